"""The supervisors' workplace: operators, sources with their weights, leads (contacts: distribution.admin)."""

import shlex

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as admin_delete_selected
from django.contrib.admin.templatetags.admin_list import _boolean_icon
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from crm import selectors, services
from crm.models import Contact, Lead, Operator, Source, SourceOperatorWeight
from crm.templatetags.leadflow import format_share, load_state_label, when

admin.site.site_header = _("Leadflow administration")
admin.site.site_title = _("Leadflow admin")

# Inline rows without the object's name as a title above each row: the row's own fields say it.
UNTITLED_TABULAR = "admin/crm/tabular_untitled.html"


def load_text(load: int, limit: int) -> str:
    """ "3 / 20", "20 / 20 · full", "21 / 20 · over the limit": as the dashboard marks it."""
    state = load_state_label(selectors.load_state(load, limit))
    return f"{load} / {limit} · {state}" if state else f"{load} / {limit}"


@admin.register(Operator)
class OperatorAdmin(SimpleHistoryAdmin):
    list_display = ("name", "is_active", "load_limit", "load")
    list_filter = ("is_active",)
    search_fields = ("name",)
    readonly_fields = ("created", "updated")
    actions = ("activate", "deactivate")
    list_editable = ("is_active",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Operator]:
        return super().get_queryset(request).with_load()

    def save_model(self, request: HttpRequest, obj: Operator, form, change: bool) -> None:
        services.save_operator(operator=obj)

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
        changed = services.set_operators_active(operators=queryset, is_active=True)
        done = ngettext("%(n)d operator activated.", "%(n)d operators activated.", changed)
        self.message_user(request, done % {"n": changed}, messages.SUCCESS)

    @admin.action(description=_("Deactivate selected operators"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Operator]) -> None:
        changed = services.set_operators_active(operators=queryset, is_active=False)
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


GRACE_CHOICES = [
    ("0", _("Stops working at once (the token leaked)")),
    ("1", _("Keeps working for 1 hour, while the channel is switched over")),
    ("24", _("Keeps working for 24 hours, while the channel is switched over")),
]


class RegenerateTokenForm(forms.Form):
    grace = forms.TypedChoiceField(
        label=_("The current token"), choices=GRACE_CHOICES, coerce=int, widget=forms.RadioSelect
    )


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
class SourceAdmin(SimpleHistoryAdmin):
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

    def get_urls(self) -> list:
        regenerate = self.admin_site.admin_view(self.regenerate_token_view)
        return [
            path("<path:object_id>/regenerate-token/", regenerate, name="crm_source_regenerate_token"),
            *super().get_urls(),
        ]

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
        extra = {
            "webhook_url": webhook_url(request),
            "curl": curl_command(webhook_url(request), "$SOURCE_TOKEN"),
            "regenerate_url": reverse("admin:crm_source_regenerate_token", args=[object_id]),
            "now": timezone.now(),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        source = form.instance
        before = dict(source.weights.values_list("operator_id", "weight")) if change else {}
        super().save_related(request, form, formsets, change)
        services.weights_changed(source=source, before=before)

    def response_add(self, request: HttpRequest, obj: Source, post_url_continue=None) -> HttpResponse:
        """A new source's token exists only on this instance now: show it once, on a page of its own."""
        self.message_user(request, _("The source “%(name)s” was added.") % {"name": obj}, messages.SUCCESS)
        return self._token_page(request, obj, obj.token, grace_hours=None)

    def regenerate_token_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Confirm, with a choice of grace period, then show the new token once."""
        source = get_object_or_404(Source, pk=object_id)
        if not self.has_change_permission(request, source):
            raise PermissionDenied
        form = RegenerateTokenForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            hours = form.cleaned_data["grace"]
            token = services.regenerate_token(source=source, grace=timezone.timedelta(hours=hours))
            return self._token_page(request, source, token, grace_hours=hours)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Regenerate the webhook token of %(name)s") % {"name": source},
            "opts": self.opts,
            "original": source,
            "form": form,
            "change_url": reverse("admin:crm_source_change", args=[source.pk]),
        }
        return TemplateResponse(request, "admin/crm/source/regenerate_token.html", context)

    def _token_page(
        self, request: HttpRequest, source: Source, token: str, *, grace_hours: int | None
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": _("Webhook token of %(name)s") % {"name": source},
            "opts": self.opts,
            "original": source,
            "token": token,
            "grace_hours": grace_hours,
            "expires": source.previous_token_expires_at,
            "curl": curl_command(webhook_url(request), token),
            "change_url": reverse("admin:crm_source_change", args=[source.pk]),
        }
        response = TemplateResponse(request, "admin/crm/source/token.html", context)
        # The token is on this page only: no cache (browser or proxy) may keep a copy.
        response["Cache-Control"] = "no-store"
        return response


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
