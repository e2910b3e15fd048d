"""The supervisors' workplace: operators, sources with their weights, leads and (read-only) contacts."""

from django.contrib import admin, messages
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from crm import services
from crm.models import Contact, Lead, Operator, Source, SourceOperatorWeight

admin.site.site_header = "Leadflow administration"
admin.site.site_title = "Leadflow admin"


@admin.register(Operator)
class OperatorAdmin(SimpleHistoryAdmin):
    list_display = ["name", "is_active", "load_limit", "load"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["activate", "deactivate"]
    list_editable = ["is_active"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Operator]:
        return super().get_queryset(request).with_load()

    def save_model(self, request: HttpRequest, obj: Operator, form, change: bool) -> None:
        services.save_operator(operator=obj)

    @admin.display(description="Load (window)", ordering="load")
    def load(self, operator: Operator) -> str:
        return f"{operator.load} / {operator.load_limit}"

    @admin.action(description="Activate selected operators")
    def activate(self, request: HttpRequest, queryset: QuerySet[Operator]) -> None:
        changed = services.set_operators_active(operators=queryset, is_active=True)
        self.message_user(request, f"{changed} operator(s) activated.", messages.SUCCESS)

    @admin.action(description="Deactivate selected operators")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Operator]) -> None:
        changed = services.set_operators_active(operators=queryset, is_active=False)
        self.message_user(request, f"{changed} operator(s) deactivated.", messages.SUCCESS)


class WeightInline(admin.TabularInline):
    model = SourceOperatorWeight
    autocomplete_fields = ["operator"]
    extra = 1


@admin.register(Source)
class SourceAdmin(SimpleHistoryAdmin):
    list_display = ["name", "operator_count", "total_weight", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["token_prefix", "created_at", "updated_at"]
    inlines = [WeightInline]
    actions = ["regenerate_tokens"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Source]:
        return (
            super()
            .get_queryset(request)
            .annotate(operator_count=Count("weights"), total_weight=Sum("weights__weight", default=0))
        )

    @admin.display(description="Operators", ordering="operator_count")
    def operator_count(self, source: Source) -> int:
        return source.operator_count

    @admin.display(description="Total weight", ordering="total_weight")
    def total_weight(self, source: Source) -> int:
        return source.total_weight

    def save_model(self, request: HttpRequest, obj: Source, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            self.message_user(request, _token_shown_once(obj, obj.token), messages.WARNING)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        source = form.instance
        before = dict(source.weights.values_list("operator_id", "weight")) if change else {}
        super().save_related(request, form, formsets, change)
        services.weights_changed(source=source, before=before)

    @admin.action(description="Regenerate the webhook token of selected sources")
    def regenerate_tokens(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            token = services.regenerate_token(source=source)
            self.message_user(request, _token_shown_once(source, token), messages.WARNING)


def _token_shown_once(source: Source, token: str) -> str:
    return (
        f"Webhook token of “{source}”: {token} — copy it now, it is shown only this once (only its digest is "
        "stored). Channels send it as “Authorization: Bearer <token>”."
    )


class ContactInline(admin.TabularInline):
    model = Contact
    fields = ["created_at", "source", "operator", "unassigned_reason", "message"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        return super().get_queryset(request).select_related("source", "operator")

    def has_add_permission(self, request: HttpRequest, obj: Lead | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Lead | None = None) -> bool:
        return False


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["external_id", "name", "created_at", "updated_at"]
    search_fields = ["external_id", "name"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [ContactInline]
