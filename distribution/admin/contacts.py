"""Contacts in the admin: read-only records, plus the supervisors' actions (assign, route again, withdraw a
pending offer, reopen a closed contact).

Contacts live in crm, but who gets them is distribution's business, so their admin lives here (crm never
imports distribution).
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from crm.admin import AdminWords, WordedAdmin
from crm.choices import ContactState
from crm.models import Contact
from distribution import offers
from distribution.forms import AssignForm
from distribution.manual import assign_each
from distribution.views import report_bulk


class AssignmentFilter(admin.SimpleListFilter):
    title = _("assignment")
    parameter_name = "assignment"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("assigned", _("Assigned")), ("unassigned", _("Unassigned"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        if self.value() == "unassigned":
            return queryset.unassigned()
        if self.value() == "assigned":
            return queryset.filter(operator__isnull=False)
        return queryset


def can_assign(request: HttpRequest) -> bool:
    return request.user.has_perm("crm.assign_contact")


@admin.register(Contact)
class ContactAdmin(WordedAdmin):
    """Contacts are written only by the distribution services; supervisors with the "can assign contacts"
    permission may route them again or hand them to an operator."""

    list_display = [
        "id",
        "created_at",
        "lead",
        "source",
        "operator",
        "state",
        "assigned_at",
        "unassigned_reason",
    ]
    list_filter = [AssignmentFilter, "state", "source", "operator"]
    # Exact: a supervisor looks a customer up by their id, found through the unique index. A partial match
    # joins every matching lead's contacts and, at a million contacts, takes seconds with the date
    # hierarchy's bounds; partial search is on the leads' list.
    search_fields = ["lead__external_id__exact"]
    search_help_text = _("The lead's exact external id.")
    # The admin's second count, of all contacts ("12 of 1,000,000"), costs a full scan per filtered page.
    show_full_result_count = False
    list_per_page = 50  # as on the staff pages; a hundred rows took longer to render than to read
    fields = [
        "lead",
        "source",
        "operator",
        "unassigned_reason",
        "state",
        "created_at",
        "assigned_at",
        "offer_expires_at",
        "accepted_at",
        "closed_at",
        "outcome",
        "message",
        "offer_history",
        "why",
    ]
    readonly_fields = fields
    list_select_related = ["lead", "source", "operator"]
    date_hierarchy = "created_at"
    actions = ["route_again", "assign_to_operator", "withdraw_offers", "reopen"]
    words = AdminWords(
        count=ngettext_lazy("%(count)d contact", "%(count)d contacts", "count"),
        select=_("Select contact"),
        select_to_change=_("Select contact to change"),
        select_to_view=_("Select contact to view"),
        add=_("Add contact"),
        change=_("Change contact"),
        view=_("View contact"),
    )

    @admin.display(description=_("Why this operator"))
    def why(self, contact: Contact) -> str:
        return render_to_string(
            "crm/_explanation.html", {"explanation": contact.explanation, "contact": contact}
        )

    @admin.display(description=_("Offers"))
    def offer_history(self, contact: Contact) -> str:
        return render_to_string("crm/_offers.html", {"contact": contact}) or "—"

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        if not can_assign(request):
            for name in ("route_again", "assign_to_operator", "withdraw_offers", "reopen"):
                actions.pop(name, None)
        return actions

    @admin.action(description=_("Withdraw the pending offers and route again"))
    def withdraw_offers(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        if not can_assign(request):
            raise PermissionDenied
        done = 0
        for contact_id in queryset.filter(state=ContactState.OFFERED).values_list("pk", flat=True):
            try:
                offers.withdraw(contact_id=contact_id, by=request.user.get_username())
            except offers.NotAllowed:  # accepted or expired meanwhile
                continue
            done += 1
        message = ngettext("%(count)d offer withdrawn.", "%(count)d offers withdrawn.", done)
        self.message_user(request, message % {"count": done}, messages.SUCCESS if done else messages.WARNING)

    @admin.action(description=_("Reopen the closed contacts"))
    def reopen(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        if not can_assign(request):
            raise PermissionDenied
        done = 0
        for contact_id in queryset.filter(state=ContactState.CLOSED).values_list("pk", flat=True):
            try:
                offers.reopen(contact_id=contact_id)
            except offers.NotAllowed:
                continue
            done += 1
        message = ngettext("%(count)d contact reopened.", "%(count)d contacts reopened.", done)
        self.message_user(request, message % {"count": done}, messages.SUCCESS if done else messages.WARNING)

    @admin.action(description=_("Route again through the draw"))
    def route_again(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        if not can_assign(request):
            raise PermissionDenied
        bulk = assign_each(contacts=queryset, operator=None, by=request.user.get_username())
        report_bulk(request, operator=None, bulk=bulk)

    @admin.action(description=_("Assign to an operator…"))
    def assign_to_operator(self, request: HttpRequest, queryset: QuerySet[Contact]) -> HttpResponse | None:
        if not can_assign(request):
            raise PermissionDenied
        contacts = list(queryset.select_related("lead", "source", "operator").order_by("created_at", "id"))
        data = request.POST if "operator" in request.POST else None
        form = AssignForm(data, contacts=contacts, may_route_again=False)
        if form.is_bound and form.is_valid():
            operator, override = form.cleaned_data["operator"], form.cleaned_data["override"]
            bulk = assign_each(
                contacts=contacts, operator=operator, override=override, by=request.user.get_username()
            )
            report_bulk(request, operator=operator, bulk=bulk)
            return None
        return TemplateResponse(
            request,
            "admin/distribution/assign.html",
            {
                **self.admin_site.each_context(request),
                "title": gettext("Assign contacts to an operator"),
                "form": form,
                "contacts": contacts,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        return False
