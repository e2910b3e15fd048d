"""The admin's shared pieces and the leads (operators, sources and contacts: distribution.admin, which decides
who takes contacts)."""

from dataclasses import dataclass

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR, ChangeList
from django.core.paginator import Paginator
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from simple_history.admin import SimpleHistoryAdmin

from crm import selectors
from crm.history import author, author_label, field_changes, one_entry, related_values
from crm.models import Contact, Lead, Skill
from crm.templatetags.leadflow import when

admin.site.site_header = _("Leadflow administration")
admin.site.site_title = _("Leadflow admin")

# Inline rows without the object's name as a title above each row: the row's own fields say it.
UNTITLED_TABULAR = "admin/crm/tabular_untitled.html"


class ChangedAsShown(forms.ModelForm):
    """A form whose page carries each value as it was shown (hidden "initial-" fields), so `changed_data`
    names what the supervisor changed rather than what differs from the record now: the API, the worker or
    another supervisor may have changed it while the page was open, and each admin's save writes only what
    the page changed (operators, sources and their weights, leads, API keys, subscriptions)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.show_hidden_initial = True

    def save_changed(self) -> None:
        """Write the record's fields that the page changed (none: nothing), with its auto-now stamps."""
        if self.changed_data:
            stamps = [f.name for f in self.instance._meta.concrete_fields if getattr(f, "auto_now", False)]
            self.instance.save(update_fields=[*self.changed_data, *stamps])


@dataclass(frozen=True)
class AdminWords:
    """How the admin names one model in its titles and counts, each a whole sentence translated as such.

    Django builds them from the verbose name ("Select %s to change", "Add %s", "5 operators"), which reads
    wrong where a language inflects the noun: Russian wants "Выберите оператора для изменения" (accusative)
    and "5 операторов" (one of three plural forms), not "Выберите оператор", "5 операторы"."""

    count: str  # ngettext_lazy("%(count)d operator", "%(count)d operators", "count")
    select: str  # a popup's list: "Select operator"
    select_to_change: str
    select_to_view: str
    add: str
    change: str
    view: str

    def counted(self, count: int) -> str:
        return self.count % {"count": count}


class WordedChangeList(ChangeList):
    """The changelist of a WordedAdmin: its title and its count (templates/admin/pagination.html) in the
    model admin's words."""

    def __init__(self, request: HttpRequest, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        words = self.model_admin.words
        if self.is_popup:
            self.title = str(words.select)
        elif self.model_admin.has_change_permission(request):
            self.title = str(words.select_to_change)
        else:
            self.title = str(words.select_to_view)

    @property
    def counted(self) -> str:
        return self.model_admin.words.counted(self.result_count)


class WordedAdmin(admin.ModelAdmin):
    """A model admin whose titles and counts are its `words` (AdminWords), not Django's sentences with the
    verbose name put in."""

    words: AdminWords

    def get_changelist(self, request: HttpRequest, **kwargs) -> type[ChangeList]:
        return WordedChangeList

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context=None
    ) -> HttpResponse:
        if object_id is None:
            title = self.words.add
        else:
            title = self.words.change if self.has_change_permission(request) else self.words.view
        extra_context = {"title": str(title), **(extra_context or {})}
        return super().changeform_view(request, object_id, form_url, extra_context)


class TrackedHistoryAdmin(SimpleHistoryAdmin):
    """The admin's History page of an object lists what each entry changed, as the Changes page does
    (crm.history.field_changes), and who made it in words (no "None")."""

    history_kind = ""  # crm.history.TRACKED's key

    def changeform_view(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # A save and the skill lists its page sets through a service are one entry (crm.history.one_entry).
        with one_entry():
            return super().changeform_view(request, *args, **kwargs)

    def set_history_delta_changes(self, request: HttpRequest, historical_records, foreign_keys_are_objs=True):
        records = list(historical_records)  # newest first; the oldest's predecessor is on the next page
        older = [*records[1:], records[-1].prev_record if records else None]
        ids = [record.history_id for record in [*records, *older[-1:]] if record is not None]
        related = related_values(self.history_kind, type(records[0]), ids) if records else {}
        for record, previous in zip(records, older, strict=True):
            record.history_delta_changes = field_changes(self.history_kind, record, previous, related)
            record.leadflow_author = author_label(author(record))


class ContactInline(admin.TabularInline):
    model = Contact
    fields = ("arrived", "source", "operator", "assigned", "unassigned_reason", "message")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    template = UNTITLED_TABULAR
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        return super().get_queryset(request).select_related("lead", "source", "operator")

    @admin.display(description=_("arrived"))
    def arrived(self, contact: Contact) -> str:
        return when(contact.created_at)

    @admin.display(description=_("assigned"))
    def assigned(self, contact: Contact) -> str:
        return when(contact.assigned_at) or "—"

    def has_add_permission(self, request: HttpRequest, obj: Lead | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Lead | None = None) -> bool:
        return False


@admin.register(Lead)
class LeadAdmin(WordedAdmin):
    list_display = ("external_id", "name", "created", "updated")
    search_fields = ("external_id", "name")
    show_full_result_count = False  # no second count of every lead on each search
    list_per_page = 50  # as on the staff pages
    readonly_fields = ("created", "updated")
    inlines = (ContactInline,)
    form = ChangedAsShown  # a webhook may rename the lead while its page is open
    words = AdminWords(
        count=ngettext_lazy("%(count)d lead", "%(count)d leads", "count"),
        select=_("Select lead"),
        select_to_change=_("Select lead to change"),
        select_to_view=_("Select lead to view"),
        add=_("Add lead"),
        change=_("Change lead"),
        view=_("View lead"),
    )

    def get_ordering(self, request: HttpRequest) -> tuple:
        # A search with no column chosen to sort by: the order that lets PostgreSQL use the trigram index.
        if request.GET.get(SEARCH_VAR) and not request.GET.get(ORDER_VAR):
            return selectors.SEARCHED_LEADS_ORDER
        return super().get_ordering(request)

    def get_paginator(
        self, request: HttpRequest, queryset: QuerySet[Lead], per_page: int, **kwargs
    ) -> Paginator:
        # A broad search's exact count costs as much as the rest of the page (a third of a million leads
        # match "history-1" at 1M contacts): it stops at a cap, as on the staff list, and the templates in
        # templates/admin/crm/lead/ say "more than".
        if request.GET.get(SEARCH_VAR):
            return selectors.CappedPaginator(queryset, per_page, **kwargs)
        return super().get_paginator(request, queryset, per_page, **kwargs)

    def save_model(self, request: HttpRequest, obj: Lead, form, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
        else:
            form.save_changed()  # a name a webhook gave the lead meanwhile stays

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, lead: Lead) -> str:
        return when(lead.created_at)

    @admin.display(description=_("updated"), ordering="updated_at")
    def updated(self, lead: Lead) -> str:
        return when(lead.updated_at)


@admin.register(Skill)
class SkillAdmin(WordedAdmin):
    """Skills are named here and given to operators on the operator's page (and sources' required and
    preferred ones on the source's)."""

    list_display = ("name", "operator_count")
    search_fields = ("name",)
    words = AdminWords(
        count=ngettext_lazy("%(count)d skill", "%(count)d skills", "count"),
        select=_("Select skill"),
        select_to_change=_("Select skill to change"),
        select_to_view=_("Select skill to view"),
        add=_("Add skill"),
        change=_("Change skill"),
        view=_("View skill"),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Skill]:
        return super().get_queryset(request).annotate(operator_count=Count("operators"))

    def get_readonly_fields(self, request: HttpRequest, obj: Skill | None = None) -> tuple:
        # Contacts keep the names they asked for: a renamed skill would leave those waiting unroutable.
        return ("name",) if obj is not None else ()

    @admin.display(description=_("Operators"), ordering="operator_count")
    def operator_count(self, skill: Skill) -> int:
        return skill.operator_count
