"""Operators in the admin: switched on and off (one by one, in the list, in bulk), their limits, their load,
presence (list actions too), time zone and weekly schedule (inline, saved as one schedule), a sign-in
account; never deleted once they have handled contacts."""

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as admin_delete_selected
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy, npgettext, pgettext

from crm import selectors, services
from crm.admin import AdminWords, ChangedAsShown, TrackedHistoryAdmin, WordedAdmin
from crm.choices import CHOSEN_AWAY_REASONS, AwayReason, Presence
from crm.models import Contact, Operator
from crm.templatetags.leadflow import when
from distribution import capacity, schedules
from distribution.admin.routing import ReportsRouting, load_text
from distribution.admin.schedule import ScheduleExceptionInline, ShiftIntervalInline

# The "same as Monday" buttons under the weekly schedule: the days that get Monday's intervals.
SAME_AS_MONDAY = {"_monday_to_weekdays": range(1, 5), "_monday_to_all": range(1, 7)}


def away_action(reason: AwayReason):
    """The list action "Set selected operators away: <reason>" (one per reason, no extra page)."""

    def action(modeladmin: "OperatorAdmin", request: HttpRequest, queryset: QuerySet[Operator]) -> None:
        modeladmin._presence(request, queryset, Presence.AWAY, reason)

    action.__name__ = f"make_away_{reason.value}"
    return admin.action(description=format_lazy(_("Set selected operators away: {}"), reason.label))(action)


class OperatorForm(ChangedAsShown):
    """The operator as the page showed it: the operator, the API or the worker may change the presence (or
    anything else) while the page is open, and a save writes only what the supervisor changed."""

    def clean(self) -> dict:
        data = super().clean()
        # Before the model's constraints are checked: a supervisor who makes someone available need not
        # also empty the reason they were away for.
        if "presence" in data:
            data["presence_reason"], data["presence_until"] = capacity.tidy_presence(
                data["presence"], data.get("presence_reason", ""), data.get("presence_until")
            )
        try:
            capacity.check_presence(
                presence=data.get("presence"), until=data.get("presence_until"), now=timezone.now()
            )
        except ValidationError as refused:
            self.add_error(None, refused)
        return data


@admin.register(Operator)
class OperatorAdmin(ReportsRouting, WordedAdmin, TrackedHistoryAdmin):
    history_kind = "operator"
    form = OperatorForm
    list_display = ("name", "is_active", "status", "load_limit", "load")
    list_filter = ("is_active", "presence", "scheduled", "skills")
    search_fields = ("name",)
    readonly_fields = ("account", "status", "created", "updated")
    autocomplete_fields = ("user",)
    fieldsets = (
        (None, {"fields": ("name", "is_active", "load_limit")}),
        (_("Sign-in account"), {"fields": ("user", "account")}),
        (_("Presence"), {"fields": ("presence", "presence_reason", "presence_until", "status")}),
        (_("Schedule"), {"fields": ("timezone",)}),
        (_("Skills"), {"fields": ("skills",)}),
        (None, {"fields": ("created", "updated")}),
    )
    filter_horizontal = ("skills",)
    inlines = (ShiftIntervalInline, ScheduleExceptionInline)
    actions = (
        "activate",
        "deactivate",
        "make_available",
        *(away_action(reason) for reason in CHOSEN_AWAY_REASONS),
        "make_offline",
    )
    list_editable = ("is_active",)
    words = AdminWords(
        count=ngettext_lazy("%(count)d operator", "%(count)d operators", "count"),
        select=_("Select operator"),
        select_to_change=_("Select operator to change"),
        select_to_view=_("Select operator to view"),
        add=_("Add operator"),
        change=_("Change operator"),
        view=_("View operator"),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Operator]:
        return super().get_queryset(request).with_load().select_related("user")

    def save_model(self, request: HttpRequest, obj: Operator, form, change: bool) -> None:
        # Only what the page changed: the operator (or the worker) may have changed their presence since
        # the page was opened.
        changed = form.changed_data if change else None
        self.routed(request, capacity.save_operator(operator=obj, changed=changed))

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """The two schedule inlines are one schedule: saved together by schedules.set_schedule (which keeps
        the operator's shift and routes the waiting contacts when it starts one now), and only when they
        changed or a "same as Monday" button asked. Skills go through capacity.set_operator_skills, which
        routes the contacts waiting for the ones added."""
        skills = form.cleaned_data.pop("skills", None)
        form.save_m2m()
        if skills is not None and "skills" in form.changed_data:
            names = [skill.name for skill in skills]
            self.routed(request, capacity.set_operator_skills(operator=form.instance, names=names))
        by_kind = {formset.model: formset for formset in formsets}
        intervals_set = by_kind.get(ShiftIntervalInline.model)
        exceptions_set = by_kind.get(ScheduleExceptionInline.model)
        copy_to = next((days for button, days in SAME_AS_MONDAY.items() if button in request.POST), None)
        if intervals_set is None or exceptions_set is None:
            return
        intervals_set.note_saved()
        exceptions_set.note_saved()
        if not (intervals_set.has_changed() or exceptions_set.has_changed() or copy_to):
            return
        intervals = intervals_set.values()
        if copy_to is not None:
            intervals = schedules.same_as_monday(intervals, days=copy_to)
        self.routed(
            request,
            schedules.set_schedule(
                operator=form.instance, intervals=intervals, exceptions=exceptions_set.values()
            ),
        )

    def response_change(self, request: HttpRequest, obj: Operator) -> HttpResponse:
        if any(button in request.POST for button in SAME_AS_MONDAY):
            # Stay on the page to see the copied days, as "Save and continue editing" does.
            request.POST = request.POST.copy()
            request.POST["_continue"] = "1"
        return super().response_change(request, obj)

    def get_urls(self) -> list:
        account = self.admin_site.admin_view(self.account_view)
        return [
            path("<path:object_id>/account/", account, name="crm_operator_account"),
            *super().get_urls(),
        ]

    def account_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A sign-in account for the operator (no admin rights): a user name and a password set by the
        supervisor, linked to the operator at once."""
        operator = self.get_object(request, object_id)
        if operator is None or not self.has_change_permission(request, operator):
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        change_url = reverse("admin:crm_operator_change", args=[operator.pk])
        form = UserCreationForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                user = services.create_account(
                    operator=operator,
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"],
                )
            except ValidationError as refused:
                self.message_user(request, " ".join(refused.messages), messages.ERROR)
                return HttpResponseRedirect(change_url)
            self.message_user(
                request,
                _("%(name)s signs in as “%(username)s” and lands on My work.")
                % {"name": operator, "username": user.get_username()},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("A sign-in account for %(name)s") % {"name": operator},
            "opts": self.opts,
            "original": operator,
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/crm/operator/account.html", context)

    @admin.display(description=_("Sign-in"))
    def account(self, operator: Operator) -> str:
        if operator.user_id:
            return operator.user.get_username()
        if not operator.pk:
            return "—"
        return render_to_string(
            "admin/crm/operator/_account_link.html",
            {"url": reverse("admin:crm_operator_account", args=[operator.pk])},
        )

    @admin.display(description=_("Now"))
    def status(self, operator: Operator) -> str:
        if not operator.pk:
            return "—"
        row = selectors.OperatorLoad.of(operator, now=timezone.now()) if hasattr(operator, "load") else None
        on_shift = row.on_shift if row else True
        return render_to_string("crm/_operator_status.html", {"operator": operator, "on_shift": on_shift})

    @admin.display(description=_("Load (window)"), ordering="load")
    def load(self, operator: Operator) -> str:
        return load_text(operator.load, operator.load_limit)

    @admin.display(description=_("created"))
    def created(self, operator: Operator) -> str:
        return when(operator.created_at)

    @admin.display(description=_("updated"))
    def updated(self, operator: Operator) -> str:
        return when(operator.updated_at)

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            # Django's bulk delete would list every protected contact; refuse in plain words instead. Its
            # name in our words: Django's "Delete selected %(verbose_name_plural)s" reads "Удалить выбранные
            # операторы" (operators are people: "выбранных операторов").
            actions["delete_selected"] = (
                OperatorAdmin.delete_operators,
                "delete_selected",
                _("Delete selected operators"),
            )
        return actions

    def delete_operators(self, request: HttpRequest, queryset: QuerySet[Operator]) -> HttpResponse | None:
        """Bulk delete, unless some of the operators have handled contacts: those are named, with the way out."""
        busy = list(queryset.filter(contacts__isnull=False).distinct().values_list("name", flat=True))
        if busy:
            self.message_user(
                request,
                _(
                    "Not deleted: %(names)s handled contacts, and deleting would lose who handled them. "
                    "Switch them off instead (the “Deactivate selected operators” action)."
                )
                % {"names": ", ".join(busy)},
                messages.ERROR,
            )
            return None
        response = admin_delete_selected(self, request, queryset)
        if isinstance(response, TemplateResponse):  # the confirmation: "delete the selected <operators>?"
            response.context_data["objects_name"] = npgettext(
                "what a deletion deletes: “delete the selected …”", "operator", "operators", queryset.count()
            )
        return response

    @admin.action(description=_("Activate selected operators"))
    def activate(self, request: HttpRequest, queryset: QuerySet[Operator]) -> None:
        changed, routed = capacity.set_operators_active(operators=queryset, is_active=True)
        self.routed(request, routed)
        done = ngettext("%(n)d operator activated.", "%(n)d operators activated.", changed)
        self.message_user(request, done % {"n": changed}, messages.SUCCESS)

    def _presence(self, request: HttpRequest, queryset, presence: str, reason: str = "") -> None:
        changed, routed = capacity.set_presence(operators=queryset, presence=presence, reason=reason)
        self.routed(request, routed)
        done = ngettext("%(n)d operator changed.", "%(n)d operators changed.", changed)
        self.message_user(request, done % {"n": changed}, messages.SUCCESS)

    @admin.action(description=_("Set selected operators available"))
    def make_available(self, request: HttpRequest, queryset: QuerySet[Operator]) -> None:
        self._presence(request, queryset, Presence.AVAILABLE)

    @admin.action(description=_("Set selected operators offline"))
    def make_offline(self, request: HttpRequest, queryset: QuerySet[Operator]) -> None:
        self._presence(request, queryset, Presence.OFFLINE)

    @admin.action(description=_("Deactivate selected operators"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Operator]) -> None:
        changed, _routed = capacity.set_operators_active(operators=queryset, is_active=False)
        done = ngettext("%(n)d operator deactivated.", "%(n)d operators deactivated.", changed)
        self.message_user(request, done % {"n": changed}, messages.SUCCESS)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        """An operator who has received contacts cannot be deleted (the contacts would lose who handled them):
        say so in plain words and offer deactivation, instead of Django's list of protected contacts."""
        operator = self.get_object(request, object_id)
        # Django's page asks to "delete the <verbose name> “Anna”": the noun as such a sentence needs it.
        extra_context = {"object_name": pgettext("what a deletion deletes: “delete the …”", "operator")} | (
            extra_context or {}
        )
        if operator is None or not self.has_delete_permission(request, operator):
            return super().delete_view(request, object_id, extra_context)
        contacts = Contact.objects.filter(operator=operator).count()
        if not contacts:
            return super().delete_view(request, object_id, extra_context)
        change_url = reverse("admin:crm_operator_change", args=[operator.pk])
        if request.method == "POST" and "deactivate" in request.POST:
            capacity.set_operators_active(operators=Operator.objects.filter(pk=operator.pk), is_active=False)
            self.message_user(
                request,
                _("%(name)s is switched off and receives no contacts.") % {"name": operator},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("%(name)s cannot be deleted") % {"name": operator},
            "opts": self.opts,
            "operator": operator,
            "contacts": contacts,
            "contacts_url": reverse("admin:crm_contact_changelist") + f"?operator__id__exact={operator.pk}",
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/crm/operator/delete_blocked.html", context)
