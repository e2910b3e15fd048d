"""The supervisors' workplace: operators, sources with their weights, leads (contacts: distribution.admin)."""

import shlex
from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as admin_delete_selected
from django.contrib.admin.templatetags.admin_list import _boolean_icon
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from crm import selectors, services
from crm.history import author, field_changes
from crm.models import Contact, Lead, Operator, Source, SourceOperatorWeight, SourceToken
from crm.secret_pages import RotatesSecrets
from crm.secrets import valid_at
from crm.templatetags.leadflow import format_share, load_state_label, when

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


class ReportsRouting(admin.ModelAdmin):
    """Admin pages whose saves may add capacity: once a save has committed and the waiting contacts it let
    through were routed, the page says how many (services.Routed)."""

    def routed(self, request: HttpRequest, routed: services.Routed) -> None:
        """Keep a save's Routed until its transaction has committed (the admin wraps saves in one)."""
        request.__dict__.setdefault("leadflow_routed", []).append(routed)

    def _say_routed(self, request: HttpRequest) -> None:
        assigned = sum(routed.assigned for routed in request.__dict__.pop("leadflow_routed", []))
        if assigned:
            done = ngettext(
                "%(count)d waiting contact was assigned.",
                "%(count)d waiting contacts were assigned.",
                assigned,
            )
            self.message_user(request, done % {"count": assigned}, messages.SUCCESS)

    def changeform_view(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().changeform_view(request, *args, **kwargs)  # committed by now
        self._say_routed(request)
        return response

    def changelist_view(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().changelist_view(request, *args, **kwargs)  # list edits and actions, committed
        self._say_routed(request)
        return response


def load_text(load: int, limit: int) -> str:
    """ "3 / 20", "20 / 20 · full", "21 / 20 · over the limit": as the dashboard marks it."""
    state = load_state_label(selectors.load_state(load, limit))
    return f"{load} / {limit} · {state}" if state else f"{load} / {limit}"


@admin.register(Operator)
class OperatorAdmin(ReportsRouting, TrackedHistoryAdmin):
    history_kind = "operator"
    list_display = ("name", "is_active", "load_limit", "load")
    list_filter = ("is_active",)
    search_fields = ("name",)
    readonly_fields = ("created", "updated")
    actions = ("activate", "deactivate")
    list_editable = ("is_active",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Operator]:
        return super().get_queryset(request).with_load()

    def save_model(self, request: HttpRequest, obj: Operator, form, change: bool) -> None:
        self.routed(request, services.save_operator(operator=obj))

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
            # Django's bulk delete would list every protected contact; refuse in plain words instead.
            actions["delete_selected"] = (
                OperatorAdmin.delete_operators,
                "delete_selected",
                actions["delete_selected"][2],
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
        return admin_delete_selected(self, request, queryset)

    @admin.action(description=_("Activate selected operators"))
    def activate(self, request: HttpRequest, queryset: QuerySet[Operator]) -> None:
        changed, routed = services.set_operators_active(operators=queryset, is_active=True)
        self.routed(request, routed)
        done = ngettext("%(n)d operator activated.", "%(n)d operators activated.", changed)
        self.message_user(request, done % {"n": changed}, messages.SUCCESS)

    @admin.action(description=_("Deactivate selected operators"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Operator]) -> None:
        changed, _routed = services.set_operators_active(operators=queryset, is_active=False)
        done = ngettext("%(n)d operator deactivated.", "%(n)d operators deactivated.", changed)
        self.message_user(request, done % {"n": changed}, messages.SUCCESS)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        """An operator who has received contacts cannot be deleted (the contacts would lose who handled them):
        say so in plain words and offer deactivation, instead of Django's list of protected contacts."""
        operator = self.get_object(request, object_id)
        if operator is None or not self.has_delete_permission(request, operator):
            return super().delete_view(request, object_id, extra_context)
        contacts = Contact.objects.filter(operator=operator).count()
        if not contacts:
            return super().delete_view(request, object_id, extra_context)
        change_url = reverse("admin:crm_operator_change", args=[operator.pk])
        if request.method == "POST" and "deactivate" in request.POST:
            services.set_operators_active(operators=Operator.objects.filter(pk=operator.pk), is_active=False)
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


class WeightInline(admin.TabularInline):
    model = SourceOperatorWeight
    fields = ("operator", "weight", "share", "load", "active")
    readonly_fields = ("share", "load", "active")
    template = UNTITLED_TABULAR
    extra = 1

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        """One query for the operator choices of every row (an autocomplete widget queries once per row)."""
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "operator":
            field.choices = list(field.choices)
        return field

    def get_queryset(self, request: HttpRequest) -> QuerySet[SourceOperatorWeight]:
        """Each row with its operator's load now and its source's total weight: still one query."""
        load = (
            Contact.objects.in_window()
            .filter(operator=OuterRef("operator"))
            .order_by()
            .values("operator")
            .annotate(n=Count("pk"))
            .values("n")
        )
        total = (
            SourceOperatorWeight.objects.filter(source=OuterRef("source"))
            .order_by()
            .values("source")
            .annotate(total=Sum("weight"))
            .values("total")
        )
        return (
            super()
            .get_queryset(request)
            .select_related("operator")
            .annotate(
                load=Coalesce(Subquery(load, output_field=IntegerField()), 0),
                total_weight=Subquery(total, output_field=IntegerField()),
            )
        )

    @admin.display(description=_("share of the weight"))
    def share(self, weight: SourceOperatorWeight) -> str:
        # The dashboard's way of writing a share (75.0% in English, 75,0% in Russian).
        return format_share(weight.weight, getattr(weight, "total_weight", None)) if weight.pk else "—"

    @admin.display(description=_("load now / limit"))
    def load(self, weight: SourceOperatorWeight) -> str:
        if not weight.pk or not hasattr(weight, "load"):
            return "—"
        return load_text(weight.load, weight.operator.load_limit)

    @admin.display(description=_("active"))
    def active(self, weight: SourceOperatorWeight) -> str:
        # The admin's yes/no icon, but nothing at all on the blank row for a new operator.
        return _boolean_icon(weight.operator.is_active) if weight.pk else "—"


def webhook_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("contacts_webhook").rstrip("/") + "/")


def curl_command(url: str, token: str) -> str:
    """A ready request for the channel's developers, the same as the README's example."""
    body = '{"external_id": "user123", "name": "Ivan", "message": "Please call me back"}'
    return "\n".join(
        [
            f"curl -sS -X POST {shlex.quote(url)} \\",
            f'  -H "Authorization: Bearer {token}" \\',
            "  -H 'Content-Type: application/json' \\",
            "  -H 'Idempotency-Key: delivery-8f14e45f' \\",
            f"  -d {shlex.quote(body)}",
        ]
    )


@admin.register(Source)
class SourceAdmin(ReportsRouting, RotatesSecrets, TrackedHistoryAdmin):
    history_kind = "source"
    list_display = ("name", "operator_count", "total_weight", "created")
    search_fields = ("name",)
    fields = ("name", "keep_operator", "created", "updated")
    readonly_fields = ("created", "updated")
    inlines = (WeightInline,)
    change_form_template = "admin/crm/source/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Source]:
        return (
            super()
            .get_queryset(request)
            .annotate(operator_count=Count("weights"), total_weight=Sum("weights__weight", default=0))
        )

    secret_kind = _("webhook token")
    rotate_url_part = "regenerate-token"

    @admin.display(description=_("Operators"), ordering="operator_count")
    def operator_count(self, source: Source) -> int:
        return source.operator_count

    @admin.display(description=_("Total weight"), ordering="total_weight")
    def total_weight(self, source: Source) -> int:
        return source.total_weight

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, source: Source) -> str:
        return when(source.created_at)

    @admin.display(description=_("updated"))
    def updated(self, source: Source) -> str:
        return when(source.updated_at)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        now = timezone.now()
        extra = {
            "webhook_url": webhook_url(request),
            "curl": curl_command(webhook_url(request), "$SOURCE_TOKEN"),
            "regenerate_url": reverse("admin:crm_source_rotate", args=[object_id]),
            # Tokens replaced by a rotation that still work, each until the end of its own grace period.
            "ending_tokens": list(
                SourceToken.objects.filter(source_id=object_id, expires_at__isnull=False)
                .filter(valid_at(now))
                .order_by("expires_at")
            )
            if object_id.isdigit()
            else [],
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)

    def save_model(self, request: HttpRequest, obj: Source, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
        else:
            services.add_source(source=obj)  # with its first token, in obj.token until the page shows it

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        source = form.instance
        before = dict(source.weights.values_list("operator_id", "weight")) if change else {}
        super().save_related(request, form, formsets, change)
        self.routed(request, services.weights_changed(source=source, before=before))

    def response_add(self, request: HttpRequest, obj: Source, post_url_continue=None) -> HttpResponse:
        """A new source's token exists only on this instance now: show it once, on a page of its own."""
        self.message_user(request, _("The source “%(name)s” was added.") % {"name": obj}, messages.SUCCESS)
        return self.show_new_secret(request, obj, obj.token, replaced=str(_("none: the source is new")))

    def delete_model(self, request: HttpRequest, obj: Source) -> None:
        services.delete_sources(sources=Source.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        services.delete_sources(sources=queryset)

    def rotate_secret(self, request: HttpRequest, source: Source, *, grace: timedelta) -> str:
        return services.regenerate_token(source=source, grace=grace)

    def secret_example(self, request: HttpRequest, secret: str) -> str:
        return curl_command(webhook_url(request), secret)


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
