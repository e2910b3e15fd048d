"""Rotating a secret and showing the new one once, the same way for source tokens and API keys.

A rotation asks first (with the grace period of the secret it replaces), then post, redirect, get: the
POST keeps what the page will show in the session under a random id and redirects; the page takes it out
of the session as it renders. So a reload (or the back button) can neither make a second secret nor show
this one again: it says the secret was shown. The page is never cached.
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.templatetags.leadflow import when

SESSION_KEY = "leadflow_secrets_to_show"

GRACE_CHOICES = [
    ("0", _("Stops working at once (it leaked)")),
    ("1", _("Keeps working for 1 hour, while the callers are switched over")),
    ("24", _("Keeps working for 24 hours, while the callers are switched over")),
]


class RotateForm(forms.Form):
    grace = forms.TypedChoiceField(
        label=_("The current secret"), choices=GRACE_CHOICES, coerce=int, widget=forms.RadioSelect
    )


def keep_for_showing(request: HttpRequest, shown: dict) -> str:
    """Keep `shown` (JSON-ready: the secret and what the page says about it) for the next page; its id."""
    ident = secrets.token_urlsafe(12)
    request.session[SESSION_KEY] = {**request.session.get(SESSION_KEY, {}), ident: shown}
    return ident


def take_for_showing(request: HttpRequest, ident: str) -> dict | None:
    """What was kept under `ident`, removed from the session; None when it was shown already."""
    pending = dict(request.session.get(SESSION_KEY, {}))
    shown = pending.pop(ident, None)
    request.session[SESSION_KEY] = pending
    return shown


@dataclass(frozen=True)
class SecretWords:
    """What the rotate and show-once pages say about one kind of secret, as whole sentences (lazy, with
    %(name)s for the owner where it says so). Not one sentence with the kind's name put in: languages
    inflect that noun, and the words agreeing with it, each their own way."""

    kind: str  # the noun as a label: "webhook token"
    new: str  # the rotate page's breadcrumb: "A new webhook token"
    new_for: str  # its title: "A new webhook token for %(name)s"
    made_once: str  # what a rotation does, with %(name)s
    yes: str  # "Yes, make a new webhook token"
    no: str  # "No, keep the current webhook token"
    new_of: str  # the show-once page's title: "The new webhook token of %(name)s"
    copy_now: str  # "Copy the webhook token now: …"
    shown_already: str  # the page shown again: "This webhook token was shown once …"

    def said(self, name: object) -> dict[str, str]:
        """Every sentence in the active language, with the owner's name in."""
        return {field: str(getattr(self, field)) % {"name": name} for field in self.__dataclass_fields__}


class RotatesSecrets(ModelAdmin):
    """A model admin whose objects own secrets (crm.secrets): a rotate page and a show-once page.

    Subclasses say what the pages call the secret (`secret_words`), make the rotation (`rotate_secret`),
    and may add a ready request using the secret (`secret_example`)."""

    secret_words: SecretWords
    rotate_url_part = "rotate"

    def rotate_secret(self, request: HttpRequest, obj, *, grace: timedelta) -> str:
        raise NotImplementedError

    def secret_example(self, request: HttpRequest, secret: str) -> str:
        return ""

    def _name(self, page: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{page}"

    def get_urls(self) -> list:
        rotate, show = (
            self.admin_site.admin_view(self.rotate_view),
            self.admin_site.admin_view(self.secret_view),
        )
        return [
            path(f"<path:object_id>/{self.rotate_url_part}/", rotate, name=self._name("rotate")),
            path("<path:object_id>/secret/<str:ident>/", show, name=self._name("secret")),
            *super().get_urls(),
        ]

    def show_new_secret(self, request: HttpRequest, obj, secret: str, *, replaced: str) -> HttpResponse:
        """Redirect to the page that shows `secret` once; `replaced` says what became of the one before."""
        shown = {
            "secret": secret,
            "replaced": replaced,
            "example": self.secret_example(request, secret),
        }
        ident = keep_for_showing(request, shown)
        return HttpResponseRedirect(reverse(f"admin:{self._name('secret')}", args=[obj.pk, ident]))

    def _page(
        self, request: HttpRequest, obj, template: str, status: int = 200, **context
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "words": self.secret_words.said(obj),
            "change_url": reverse(f"admin:{self._name('change')}", args=[obj.pk]),
            **context,
        }
        return TemplateResponse(request, template, context, status=status)

    def rotate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Confirm, with a choice of grace period for the current secret, then show the new one once."""
        obj = self.get_object(request, object_id)  # None for an id that is not one (abc, %00, 1/2)
        if obj is None:
            raise Http404(gettext("Nothing is here."))
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        form = RotateForm(request.POST if request.method == "POST" else None)
        if not form.is_valid():
            title = self.secret_words.new_for % {"name": obj}
            return self._page(request, obj, "admin/secret_rotate.html", form=form, title=title)
        grace = timedelta(hours=form.cleaned_data["grace"])
        try:
            secret = self.rotate_secret(request, obj, grace=grace)
        except type(obj).DoesNotExist:  # deleted meanwhile
            raise Http404(gettext("Nothing is here.")) from None
        if grace:
            replaced = gettext("keeps working until %(moment)s") % {"moment": when(timezone.now() + grace)}
        else:
            replaced = gettext("stopped working")
        return self.show_new_secret(request, obj, secret, replaced=replaced)

    def secret_view(self, request: HttpRequest, object_id: str, ident: str) -> HttpResponse:
        obj = self.get_object(request, object_id)
        if obj is None or not self.has_view_or_change_permission(request, obj):
            raise Http404(gettext("Nothing is here."))
        shown = take_for_showing(request, ident)
        title = self.secret_words.new_of % {"name": obj}
        response = self._page(
            request, obj, "admin/secret_shown.html", status=200 if shown else 410, shown=shown, title=title
        )
        # The secret is on this page only: no cache (browser or proxy) may keep a copy.
        response["Cache-Control"] = "no-store"
        return response
