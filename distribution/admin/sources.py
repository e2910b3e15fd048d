"""Sources in the admin: the webhook's URL and a ready curl, the token rotated and shown once, the weights
edited inline and saved through distribution.capacity.change_weights; a save writes what the page changed."""

from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_list import _boolean_icon
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from crm import eligibility, services
from crm.admin import UNTITLED_TABULAR, AdminWords, ChangedAsShown, TrackedHistoryAdmin, WordedAdmin
from crm.models import Source, SourceOperatorWeight, SourceToken
from crm.secret_pages import RotatesSecrets, SecretWords
from crm.secrets import valid_at
from crm.templatetags.leadflow import format_share, when
from distribution import capacity
from distribution.admin.routing import ReportsRouting, load_text
from distribution.webhook import example_request


class WeightFormSet(BaseInlineFormSet):
    """The inline weights as one set, validated and saved by distribution.capacity.change_weights (which writes
    only what changed, records it, and routes waiting contacts when capacity grew), not row by row.

    Each row carries its values as shown (ChangedAsShown), and only the rows the supervisor added, edited
    or removed are saved: an operator added through the API while the page was open, or a weight changed
    there, stays as it is."""

    def changes(self) -> tuple[dict[int, int], set[int]]:
        """{operator_id: weight} of the rows added or edited, and the operators whose rows were removed (or
        given another operator); the blank row and the rows left as shown are in neither."""
        weights, removed = {}, set()
        for form in self.forms:
            # The row's operator as stored (form.instance has the page's choice by now).
            shown = form.initial.get("operator") if form in self.initial_forms else None
            operator = form.cleaned_data.get("operator")
            if self._should_delete_form(form) or operator is None:
                removed |= {shown} - {None}
            elif form.has_changed():
                removed |= {shown} - {None, operator.pk}
                weights[operator.pk] = form.cleaned_data["weight"]
        return weights, removed

    def save_weights(self, source: Source) -> capacity.Routed:
        """Save the page's changes through the service, and note what changed as BaseModelFormSet.save would,
        for the admin's log entry."""
        weights, removed = self.changes()
        routed = capacity.change_weights(source=source, weights=weights, removed=removed)
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
        return routed

    def clean(self) -> None:
        super().clean()
        if not any(self.errors):
            try:
                capacity.validate_weights(self.changes()[0])
            except ValidationError as refused:
                raise ValidationError(refused.messages) from None


class WeightInline(admin.TabularInline):
    model = SourceOperatorWeight
    form = ChangedAsShown
    formset = WeightFormSet
    fields = ("operator", "weight", "share", "load", "active")
    readonly_fields = ("share", "load", "active")
    template = UNTITLED_TABULAR
    extra = 1
    add_another = _("Add another operator")  # each row is an operator with its weight

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        """One query for the operator choices of every row (an autocomplete widget queries once per row)."""
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "operator":
            field.choices = list(field.choices)
        return field

    def get_queryset(self, request: HttpRequest) -> QuerySet[SourceOperatorWeight]:
        """Each row with its operator's load now and its source's total weight: still one query."""
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
                load=eligibility.load_of("operator"),
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


@admin.register(Source)
class SourceAdmin(ReportsRouting, RotatesSecrets, WordedAdmin, TrackedHistoryAdmin):
    history_kind = "source"
    form = ChangedAsShown  # a save writes what the page changed, not what it showed (as the weights)
    list_display = ("name", "strategy", "operator_count", "total_weight", "created")
    list_filter = ("strategy",)
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("name", "keep_operator")}),
        (_("Offers"), {"fields": ("accept_within_seconds", "missed_offers_before_away")}),
        (
            _("Routing"),
            {"fields": ("strategy", "required_skills", "preferred_skills", "relax_preferred_after_seconds")},
        ),
        (None, {"fields": ("created", "updated")}),
    )
    filter_horizontal = ("required_skills", "preferred_skills")
    readonly_fields = ("created", "updated")
    inlines = (WeightInline,)
    change_form_template = "admin/crm/source/change_form.html"
    words = AdminWords(
        count=ngettext_lazy("%(count)d source", "%(count)d sources", "count"),
        select=_("Select source"),
        select_to_change=_("Select source to change"),
        select_to_view=_("Select source to view"),
        add=_("Add source"),
        change=_("Change source"),
        view=_("View source"),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Source]:
        return (
            super()
            .get_queryset(request)
            .annotate(operator_count=Count("weights"), total_weight=Sum("weights__weight", default=0))
        )

    secret_words = SecretWords(
        kind=_("webhook token"),
        new=_("A new webhook token"),
        new_for=_("A new webhook token for %(name)s"),
        made_once=_(
            "A new webhook token for “%(name)s” is made and shown once. Every channel that posts to this "
            "source must then send the new token."
        ),
        yes=_("Yes, make a new webhook token"),
        no=_("No, keep the current webhook token"),
        new_of=_("The new webhook token of %(name)s"),
        copy_now=_("Copy the webhook token now: it is shown only this once (only its digest is stored)."),
        shown_already=_(
            "This webhook token was shown once and cannot be shown again: only its digest is stored. If it "
            "was not copied, make a new one."
        ),
    )
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
            "curl": example_request(webhook_url(request), "$SOURCE_TOKEN"),
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
        if not change:
            services.add_source(source=obj)  # with its first token, in obj.token until the page shows it
        elif changes := {
            name: getattr(obj, name) for name in form.changed_data if name in services.SOURCE_CHANGEABLE
        }:
            services.update_source(source=obj, **changes)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        # Skills through capacity.set_source_skills (keeps uses_skills, routes what fewer requirements let
        # through), as the weights through change_weights; each list only when the page changed it.
        # Popped either way: form.save_m2m() would write them as the page showed them.
        shown = {kind: form.cleaned_data.pop(f"{kind}_skills", None) for kind in ("required", "preferred")}
        skills = {
            kind: [skill.name for skill in chosen]
            for kind, chosen in shown.items()
            if chosen is not None and (not change or f"{kind}_skills" in form.changed_data)
        }
        form.save_m2m()
        if skills:
            self.routed(request, capacity.set_source_skills(source=form.instance, **skills))
        for formset in formsets:
            if isinstance(formset, WeightFormSet):
                self.routed(request, formset.save_weights(form.instance))
            else:
                self.save_formset(request, form, formset, change=change)

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
        return example_request(webhook_url(request), secret)
