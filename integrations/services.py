"""API keys: issue, authenticate, rotate, revoke. The admin, the create_api_key command and the API call these."""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from simple_history.models import HistoricalRecords

from crm import secrets
from integrations.models import ApiKey, Scope

# last_used_at is a hint for supervisors ("is this key still in use?"), not an audit log: refreshing it
# at most this often keeps a busy integration from writing the row on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def issue_api_key(*, api_key: ApiKey, created_by: AbstractBaseUser | None = None) -> str:
    """Give a new, unsaved key (name and scope set) its first secret, validate it and store it.

    Returns the secret: the only time it is seen, since only its digest is stored. Raises ValidationError
    for a blank name, an unknown scope, or the name of another active key.
    """
    api_key.created_by = created_by if created_by is not None and created_by.pk else None
    # Before create_owner's full_clean, whose check of the same constraint would name no field.
    if ApiKey.objects.name_taken(api_key.name):
        raise ValidationError({"name": [ApiKey.NAME_TAKEN]})
    api_key.key = secrets.create_owner(api_key)
    return api_key.key


def create_api_key(
    *, name: str, scope: str = Scope.READ, created_by: AbstractBaseUser | None = None
) -> tuple[ApiKey, str]:
    """A new API key and its secret (shown once). Raises ValidationError for a blank name, an unknown
    scope or a name already in use."""
    api_key = ApiKey(name=name, scope=scope)
    return api_key, issue_api_key(api_key=api_key, created_by=created_by)


def authenticate(secret: str, *, now: datetime | None = None) -> ApiKey | None:
    """The key with this secret, unless it is unknown, revoked or past its grace (None); one indexed query.

    The lookup is by digest, so the comparison never touches the secret itself (no timing leak of it).
    `last_used_at` is refreshed when it is older than LAST_USED_RESOLUTION.
    """
    if not secret:
        return None
    now = now or timezone.now()
    api_key = ApiKey.objects.with_secret(secrets.token_digest(secret), now).first()
    if api_key is None:
        return None
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_RESOLUTION:
        # A conditional UPDATE: of concurrent requests with a stale stamp, all write the same minute.
        ApiKey.objects.filter(pk=api_key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def revoke_api_keys(*, api_keys: QuerySet[ApiKey], now: datetime | None = None) -> int:
    """Revoke the keys (from now on every secret of theirs gets 401); returns how many were still active."""
    now = now or timezone.now()
    return api_keys.active(now).update(revoked_at=now)


def rotate_api_key(
    *, api_key: ApiKey, grace: timedelta = timedelta(0), now: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new secret for the key (returned, shown once); the secret it replaces keeps working for `grace`
    (none: it stops now), so an integration can switch over without failing requests (crm.secrets)."""
    if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=False).exists():
        raise ValidationError(gettext("A revoked key cannot get a new secret."))
    return secrets.rotate(api_key, grace=grace, now=now)


def name_the_api_key(sender: type, history_instance, **kwargs) -> None:
    """pre_create_historical_record: a change made through the API names its key as the record's change
    reason, "api:<key name>", as assignments name it in their explanation (`by`). The request is the one
    django-simple-history's middleware keeps for the thread; django-ninja put the key in request.auth.
    (The changes' user stays empty: a key is not a person.)"""
    request = getattr(HistoricalRecords.context, "request", None)
    api_key = getattr(request, "auth", None)
    if isinstance(api_key, ApiKey) and not history_instance.history_change_reason:
        reason_field = history_instance._meta.get_field("history_change_reason")
        history_instance.history_change_reason = f"api:{api_key.name}"[: reason_field.max_length]
