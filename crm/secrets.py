"""Secrets that callers present: the channels' source tokens and the integrations' API keys. One mechanism
for both: made random, stored only as a digest, rotated with a grace period, shown once.

An owner (a source, an API key) has any number of secrets, each with its own end (`expires_at`; None for
the current one). A rotation makes a new current secret and gives the one it replaces `now + grace`; a
secret that was already ending keeps its own end, so every secret ever shown works for as long as it was
promised, whatever rotations follow. Rotations of one owner are serialised by locking the owner's row.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

PREFIX_LENGTH = 8


def new_token() -> str:
    """A secret for a channel or an integration: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a secret: its SHA-256. The token has 256 random bits, so no slow hash is needed;
    a leaked backup or a read-only SQL console then reveals no working secret."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def valid_at(now: datetime, prefix: str = "") -> Q:
    """The secrets that work at `now`: current ones, and rotated ones still in their grace period."""
    return Q(**{f"{prefix}expires_at__isnull": True}) | Q(**{f"{prefix}expires_at__gt": now})


class Secret(models.Model):
    """One secret of an owner (a subclass adds the owner as a foreign key with related_name="secrets")."""

    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        _("starts with"),
        max_length=PREFIX_LENGTH,
        editable=False,
        help_text=_("The secret's first characters, to tell secrets apart."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(
        _("works until"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Empty for the current secret; a rotated one works until this moment."),
    )

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix}…"


def add_secret(
    owner: models.Model, *, token: str | None = None, now: datetime | None = None
) -> tuple[Secret, str]:
    """Give `owner` a new current secret (`token`, or a new one); return the stored row and the plain
    secret, which is shown once and never stored."""
    token = token or new_token()
    row = owner.secrets.create(
        digest=token_digest(token), prefix=token[:PREFIX_LENGTH], created_at=now or timezone.now()
    )
    return row, token


def create_owner(owner: models.Model) -> str:
    """Validate and store a new, unsaved owner (a source, an API key) with its first secret; return the
    secret, which is never stored. The owner class names the field that keeps the current secret's
    first characters (`secret_prefix_field`), for people to tell secrets apart."""
    token = new_token()
    setattr(owner, owner.secret_prefix_field, token[:PREFIX_LENGTH])
    owner.full_clean()
    with transaction.atomic():
        owner.save()
        add_secret(owner, token=token)
    return token


def rotate(owner: models.Model, *, grace: timedelta, now: datetime | None = None) -> tuple[models.Model, str]:
    """A new current secret for `owner`; the secret it replaces works for `grace` more (none: it stops now).
    Returns the owner as stored now (read under the lock) and the new secret.

    The owner's row is locked first, so two rotations at the same moment run one after the other and the
    second one's "current secret" is the first one's new secret, not a secret both replaced. The owner is
    saved with its new prefix: its history records the rotation. Raises DoesNotExist if it is gone.
    """
    if grace < timedelta(0):
        raise ValueError("a grace period cannot be negative")
    now = now or timezone.now()
    with transaction.atomic():
        # Read under the lock: a history record stores every field, so none may be a stale copy.
        locked = type(owner).objects.select_for_update().get(pk=owner.pk)
        locked.secrets.filter(expires_at__isnull=True).update(expires_at=now + grace)
        row, token = add_secret(locked, now=now)
        setattr(locked, locked.secret_prefix_field, row.prefix)
        stamped = [f.name for f in locked._meta.concrete_fields if f.name == "updated_at"]
        locked.save(update_fields=[locked.secret_prefix_field, *stamped])
    return locked, token
