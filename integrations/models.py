"""API keys: how systems around the contact centre (telephony, BI jobs, scripts) call the integration API.

They are separate from the channels' source tokens: a source token may only post contacts to the webhook,
an API key reads (and, with the write scope, changes) the configuration through /api/v1/.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.secrets import PREFIX_LENGTH, Secret, valid_at


class ApiKeyQuerySet(models.QuerySet):
    def active(self, now=None) -> "ApiKeyQuerySet":
        """Keys not revoked, or revoked at a moment still to come (keys rotated before rotations kept the
        key and changed its secret carry their grace this way)."""
        return self.filter(models.Q(revoked_at__isnull=True) | models.Q(revoked_at__gt=now or timezone.now()))

    def name_taken(self, name: str, *, by_other_than: int | None = None) -> bool:
        """Whether an active key has this name (the rule of the apikey_active_name_unique constraint, checked
        where a form or the API can name the field)."""
        return self.active().filter(name=name).exclude(pk=by_other_than).exists()

    def with_secret(self, digest: str, now) -> "ApiKeyQuerySet":
        """The active key one of whose secrets has this digest and works at `now` (crm.secrets)."""
        # One filter() call: two would join the secrets twice, and match a digest of one secret with the
        # validity of another.
        return self.active(now).filter(Q(secrets__digest=digest) & valid_at(now, "secrets__"))


class Scope(models.TextChoices):
    READ = "read", _("read only")
    WRITE = "write", _("read and write")


NAME_TAKEN = _("An active API key with this name exists already.")


class ApiKey(models.Model):
    Scope = Scope
    NAME_TAKEN = NAME_TAKEN

    name = models.CharField(
        _("name"),
        max_length=100,
        help_text=_("Who uses the key: the telephony system, the nightly BI job. One active key per name."),
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
    # Like the source tokens, only digests are stored (ApiKeySecret, crm.secrets); the secret is shown once.
    key_prefix = models.CharField(
        _("key prefix"),
        max_length=PREFIX_LENGTH,
        editable=False,
        help_text=_("The current secret's first characters, to tell keys apart."),
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
        help_text=_("A revoked key is refused (401): every secret of it stops working."),
    )

    objects = ApiKeyQuerySet.as_manager()

    # The plain key, set only on the instance that made it (creation): never stored.
    key: str = ""
    secret_prefix_field = "key_prefix"  # crm.secrets

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(scope__in=Scope.values), name="apikey_scope_valid"),
            # A rotation keeps the key (and its name) and gives it a new secret, so two active keys with one
            # name are two integrations nobody could tell apart in the history ("api:<name>").
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(revoked_at__isnull=True),
                name="apikey_active_name_unique",
                violation_error_message=NAME_TAKEN,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE


class ApiKeySecret(Secret):
    """A secret of an API key (crm.secrets): the current one, or a rotated one in its grace period."""

    api_key = models.ForeignKey(
        ApiKey, on_delete=models.CASCADE, related_name="secrets", verbose_name=_("API key")
    )

    class Meta(Secret.Meta):
        verbose_name = _("API key secret")
        verbose_name_plural = _("API key secrets")
