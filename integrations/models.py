"""API keys: how systems around the contact centre (telephony, BI jobs, scripts) call the integration API.

They are separate from the channels' source tokens: a source token may only post contacts to the webhook,
an API key reads (and, with the write scope, changes) the configuration through /api/v1/.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import TOKEN_PREFIX_LENGTH, new_token, token_digest


class ApiKeyQuerySet(models.QuerySet):
    def active(self, now=None) -> "ApiKeyQuerySet":
        """Keys that work now: never revoked, or revoked for a moment still to come (a rotation's grace)."""
        return self.filter(models.Q(revoked_at__isnull=True) | models.Q(revoked_at__gt=now or timezone.now()))


class Scope(models.TextChoices):
    READ = "read", _("read only")
    WRITE = "write", _("read and write")


class ApiKey(models.Model):
    Scope = Scope

    name = models.CharField(
        _("name"), max_length=100, help_text=_("Who uses the key: the telephony system, the nightly BI job.")
    )
    scope = models.CharField(
        _("scope"),
        max_length=5,
        choices=Scope.choices,
        default=Scope.READ,
        help_text=_(
            "A read-only key may list and read; a write key may also change operators, sources, "
            "weights and assignments."
        ),
    )
    # Like the source tokens, only a digest is stored (crm.models.token_digest); the key is shown once.
    key_digest = models.CharField(_("key digest"), max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(
        _("key prefix"),
        max_length=TOKEN_PREFIX_LENGTH,
        editable=False,
        help_text=_("The key's first characters, to tell keys apart."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    # Updated at most once a minute (integrations.services.authenticate): enough to spot unused keys
    # without a write on every request.
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(
        _("revoked at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("A revoked key is refused (401) from this moment on."),
    )

    objects = ApiKeyQuerySet.as_manager()

    # The plain key, set only on the instance that made it (creation): never stored.
    key: str = ""

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(key_digest=""), name="apikey_digest_not_blank"),
            models.CheckConstraint(condition=Q(scope__in=Scope.values), name="apikey_scope_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE

    def set_new_key(self) -> str:
        """Give the key a fresh secret (not saved yet) and return it."""
        self.key = new_token()
        self.key_digest = token_digest(self.key)
        self.key_prefix = self.key[:TOKEN_PREFIX_LENGTH]
        return self.key
