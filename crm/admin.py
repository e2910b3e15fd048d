"""The admin's shared pieces and the leads (operators, sources and contacts: distribution.admin, which decides
who takes contacts)."""

from django.contrib import admin
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from crm import selectors
from crm.history import author, field_changes
from crm.models import Contact, Lead
from crm.templatetags.leadflow import when

admin.site.site_header = _("Leadflow administration")
admin.site.site_title = _("Leadflow admin")

# Inline rows without the object's name as a title above each row: the row's own fields say it.
UNTITLED_TABULAR = "admin/crm/tabular_untitled.html"


class TrackedHistoryAdmin(SimpleHistoryAdmin):
    """The admin's History page of an object lists what each entry changed, as the Changes page does
    (crm.history.field_changes), and who made it in words (no "None")."""

    history_kind = ""  # crm.history.TRACKED's key

    def set_history_delta_changes(self, request: HttpRequest, historical_records, foreign_keys_are_objs=True):
        records = list(historical_records)  # newest first; the oldest's predecessor is on the next page
        older = [*records[1:], records[-1].prev_record if records else None]
        for record, previous in zip(records, older, strict=True):
            record.history_delta_changes = field_changes(self.history_kind, record, previous)
            record.leadflow_author = author(record)


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
class LeadAdmin(admin.ModelAdmin):
    list_display = ("external_id", "name", "created", "updated")
    search_fields = ("external_id", "name")
    show_full_result_count = False  # no second count of every lead on each search
    list_per_page = 50  # as on the staff pages
    readonly_fields = ("created", "updated")
    inlines = (ContactInline,)

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

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, lead: Lead) -> str:
        return when(lead.created_at)

    @admin.display(description=_("updated"), ordering="updated_at")
    def updated(self, lead: Lead) -> str:
        return when(lead.updated_at)
