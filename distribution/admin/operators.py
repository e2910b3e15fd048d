"""Operators in the admin: switched on and off (one by one, in the list, in bulk), their limits, their load;
never deleted once they have handled contacts."""

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as admin_delete_selected
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy, npgettext, pgettext

from crm.admin import AdminWords, TrackedHistoryAdmin, WordedAdmin
from crm.models import Contact, Operator
from crm.templatetags.leadflow import when
from distribution import capacity
from distribution.admin.routing import ReportsRouting, load_text


@admin.register(Operator)
class OperatorAdmin(ReportsRouting, WordedAdmin, TrackedHistoryAdmin):
    history_kind = "operator"
    list_display = ("name", "is_active", "load_limit", "load")
    list_filter = ("is_active",)
    search_fields = ("name",)
    readonly_fields = ("created", "updated")
    actions = ("activate", "deactivate")
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
        return super().get_queryset(request).with_load()

    def save_model(self, request: HttpRequest, obj: Operator, form, change: bool) -> None:
        self.routed(request, capacity.save_operator(operator=obj))

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
