"""The supervisors' workplace: operators, sources with their weights, leads and (read-only) contacts."""

from django.contrib import admin, messages
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest
from django.template.loader import render_to_string

from crm import services
from crm.models import Contact, Lead, Operator, Source, SourceOperatorWeight

admin.site.site_header = "Leadflow administration"
admin.site.site_title = "Leadflow admin"


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "load_limit", "load"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["activate", "deactivate"]
    list_editable = ["is_active"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Operator]:
        return super().get_queryset(request).with_load()

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
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "operator_count", "total_weight", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["token", "created_at", "updated_at"]
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

    @admin.action(description="Regenerate the webhook token of selected sources")
    def regenerate_tokens(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            services.regenerate_token(source=source)
        self.message_user(
            request,
            f"New token for {queryset.count()} source(s); the old tokens no longer work. Update the channels.",
            messages.WARNING,
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


class AssignmentFilter(admin.SimpleListFilter):
    title = "assignment"
    parameter_name = "assignment"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("assigned", "Assigned"), ("unassigned", "Unassigned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        if self.value() == "unassigned":
            return queryset.unassigned()
        if self.value() == "assigned":
            return queryset.filter(operator__isnull=False)
        return queryset


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    """Read-only: contacts are written only by the distribution service."""

    list_display = ["id", "created_at", "lead", "source", "operator", "unassigned_reason"]
    list_filter = [AssignmentFilter, "source", "operator"]
    search_fields = ["lead__external_id"]
    fields = ["lead", "source", "operator", "unassigned_reason", "created_at", "message", "why"]
    readonly_fields = fields
    list_select_related = ["lead", "source", "operator"]
    date_hierarchy = "created_at"

    @admin.display(description="Why this operator")
    def why(self, contact: Contact) -> str:
        return render_to_string("crm/_explanation.html", {"explanation": contact.explanation})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        return False
