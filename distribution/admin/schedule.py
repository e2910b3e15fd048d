"""An operator's schedule in the admin: the weekly intervals and the exceptions edited inline, saved as one
schedule through distribution.schedules.set_schedule (never row by row), and everyone's holidays."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from crm.admin import UNTITLED_TABULAR, AdminWords, WordedAdmin
from crm.models import Holiday, ScheduleException, ShiftInterval
from distribution import schedules


class ScheduleFormSet(BaseInlineFormSet):
    """Inline rows as plain values (`values`), checked by schedules.validate; saved by the admin as one
    schedule, with what changed noted as BaseModelFormSet.save would, for the admin's log entry."""

    def values(self) -> list:
        return [
            self.value_of(form.cleaned_data)
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and self.is_row(form.cleaned_data)
        ]

    def clean(self) -> None:
        super().clean()
        if not any(self.errors):
            try:
                self.check(self.values())
            except ValidationError as refused:
                raise ValidationError(refused.messages) from None

    def note_saved(self) -> None:
        kept = [form for form in self.forms if not self._should_delete_form(form)]
        self.new_objects = [form.instance for form in kept if form in self.extra_forms and form.has_changed()]
        self.changed_objects = [
            (form.instance, form.changed_data)
            for form in kept
            if form in self.initial_forms and form.has_changed()
        ]
        self.deleted_objects = [
            form.instance for form in self.initial_forms if self._should_delete_form(form)
        ]


class IntervalFormSet(ScheduleFormSet):
    @staticmethod
    def is_row(data: dict) -> bool:
        return data.get("weekday") is not None

    @staticmethod
    def value_of(data: dict) -> schedules.Interval:
        return schedules.Interval(data["weekday"], data["starts"], data["ends"])

    @staticmethod
    def check(values: list) -> None:
        schedules.validate(values, [])


class ExceptionFormSet(ScheduleFormSet):
    @staticmethod
    def is_row(data: dict) -> bool:
        return data.get("start_date") is not None

    @staticmethod
    def value_of(data: dict) -> schedules.DateRange:
        return schedules.DateRange(
            data["start_date"], data["end_date"], data["kind"], data["starts"], data["ends"]
        )

    @staticmethod
    def check(values: list) -> None:
        schedules.validate([], values)


class ShiftIntervalInline(admin.TabularInline):
    model = ShiftInterval
    formset = IntervalFormSet
    fields = ("weekday", "starts", "ends")
    template = UNTITLED_TABULAR
    extra = 1


class ScheduleExceptionInline(admin.TabularInline):
    model = ScheduleException
    formset = ExceptionFormSet
    fields = ("start_date", "end_date", "kind", "starts", "ends")
    template = UNTITLED_TABULAR
    extra = 1


@admin.register(Holiday)
class HolidayAdmin(WordedAdmin):
    """Everyone's days off (company holidays) and changed hours: the exceptions with no operator."""

    words = AdminWords(
        count=ngettext_lazy("%(count)d company holiday", "%(count)d company holidays", "count"),
        select=_("Select company holiday"),
        select_to_change=_("Select company holiday to change"),
        select_to_view=_("Select company holiday to view"),
        add=_("Add company holiday"),
        change=_("Change company holiday"),
        view=_("View company holiday"),
    )

    list_display = ("start_date", "end_date", "kind", "starts", "ends")
    fields = ("start_date", "end_date", "kind", "starts", "ends")
    date_hierarchy = "start_date"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(operator__isnull=True)

    def save_model(self, request, obj: ScheduleException, form, change: bool) -> None:
        if change:
            schedules.remove_holiday(holiday_id=obj.pk)
        holiday = schedules.DateRange(obj.start_date, obj.end_date, obj.kind, obj.starts, obj.ends)
        added = schedules.add_holiday(holiday=holiday)
        obj.pk = added.pk

    def delete_model(self, request, obj: ScheduleException) -> None:
        schedules.remove_holiday(holiday_id=obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for holiday_id in queryset.values_list("pk", flat=True):
            schedules.remove_holiday(holiday_id=holiday_id)
