"""API keys in the admin: created with a name and a scope, the secret shown once; rotated with a grace period
(crm.secret_pages, as source tokens are); revoked, never deleted."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext, ngettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from crm.admin import AdminWords, ChangedAsShown, WordedAdmin
from crm.secret_pages import RotatesSecrets, SecretWords
from integrations import services
from integrations.models import ApiKey


class ApiKeyForm(ChangedAsShown):
    """Name and scope as the page showed them: a scope narrowed by another supervisor while this page was
    open is not widened again by a save that only renamed the key."""

    class Meta:
        model = ApiKey
        fields = ["name", "scope"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if ApiKey.objects.name_taken(name, by_other_than=self.instance.pk):
            raise forms.ValidationError(ApiKey.NAME_TAKEN)
        return name


@admin.register(ApiKey)
class ApiKeyAdmin(RotatesSecrets, WordedAdmin):
    form = ApiKeyForm
    list_display = ["name", "scope", "key_prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "key_prefix"]
    readonly_fields = ["key_prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]
    list_select_related = ["created_by"]
    change_form_template = "admin/integrations/apikey/change_form.html"
    words = AdminWords(
        count=ngettext_lazy("%(count)d API key", "%(count)d API keys", "count"),
        select=_("Select API key"),
        select_to_change=_("Select API key to change"),
        select_to_view=_("Select API key to view"),
        add=_("Add API key"),
        change=_("Change API key"),
        view=_("View API key"),
    )
    secret_words = SecretWords(
        kind=_("API key"),
        new=_("A new API key"),
        new_for=_("A new API key for %(name)s"),
        made_once=_(
            "A new API key for “%(name)s” is made and shown once. Every system that uses this key must then "
            "send the new one."
        ),
        yes=_("Yes, make a new API key"),
        no=_("No, keep the current API key"),
        new_of=_("The new API key of %(name)s"),
        copy_now=_("Copy the API key now: it is shown only this once (only its digest is stored)."),
        shown_already=_(
            "This API key was shown once and cannot be shown again: only its digest is stored. If it was not "
            "copied, make a new one."
        ),
    )

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # Revoking keeps the record of who had access and when it was last used; deleting would lose it.
        return False

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra = {"rotate_url": reverse("admin:integrations_apikey_rotate", args=[object_id])}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            form.save_changed()  # never a revocation or a scope someone else set meanwhile
        else:
            services.issue_api_key(api_key=obj, created_by=request.user)  # the secret waits in obj.key

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue=None) -> HttpResponse:
        return self.show_new_secret(request, obj, obj.key, replaced=gettext("none: the key is new"))

    def rotate_secret(self, request: HttpRequest, obj: ApiKey, *, grace: timedelta) -> str:
        return services.rotate_api_key(api_key=obj, grace=grace)[1]

    def secret_example(self, request: HttpRequest, secret: str) -> str:
        return f"curl -sS -H 'Authorization: Bearer {secret}' {request.build_absolute_uri('/api/v1/stats')}"

    @admin.action(description=_("Revoke selected API keys"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = services.revoke_api_keys(api_keys=queryset)
        done = ngettext("%(count)d API key revoked.", "%(count)d API keys revoked.", revoked)
        self.message_user(request, done % {"count": revoked}, messages.SUCCESS)
