"""API keys in the admin: created with a name and a scope, the key shown once; revoked, never deleted."""

from datetime import timedelta

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from integrations import services
from integrations.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "scope", "key_prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "key_prefix"]
    readonly_fields = ["key_prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke", "rotate_with_grace", "rotate_now"]
    list_select_related = ["created_by"]

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # Revoking keeps the record of who had access and when it was last used; deleting would lose it.
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key = services.issue_api_key(api_key=obj, created_by=request.user)
        self._show_once(request, obj, key)

    @admin.action(description=_("Rotate: a new key, the old one keeps working for 24 hours"))
    def rotate_with_grace(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset.active():
            new, key = services.rotate_api_key(
                api_key=api_key, grace=timedelta(hours=24), created_by=request.user
            )
            self._show_once(request, new, key)

    @admin.action(description=_("Rotate: a new key, the old one stops now"))
    def rotate_now(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset.active():
            new, key = services.rotate_api_key(api_key=api_key, created_by=request.user)
            self._show_once(request, new, key)

    def _show_once(self, request: HttpRequest, obj: ApiKey, key: str) -> None:
        self.message_user(
            request,
            gettext(
                "API key of “%(name)s”: %(key)s — copy it now, it is shown only this once (only its digest is "
                "stored). Integrations send it as “Authorization: Bearer <key>” to /api/v1/."
            )
            % {"name": obj.name, "key": key},
            messages.WARNING,
        )

    @admin.action(description=_("Revoke selected API keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = services.revoke_api_keys(api_keys=queryset)
        done = ngettext("%(count)d API key revoked.", "%(count)d API keys revoked.", revoked)
        self.message_user(request, done % {"count": revoked}, messages.SUCCESS)
