"""Subscriptions: made (their secret shown once), changed, rotated, removed; a test event; a delivery sent
again. The admin and the API call these."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from crm.models import Source
from events import outbox, signing
from events.choices import DeliveryStatus, EventType
from events.models import Delivery, Subscription
from events.targets import check_url

CHANGEABLE = {"url", "events", "source", "is_active"}


def validate(*, url: str, events: Iterable[str], source: Source | None) -> list[str]:
    """The event types as stored (each once, in their order), or ValidationError naming `url` or `events`."""
    check_url(url)
    events = list(dict.fromkeys(events))
    if not events:
        raise ValidationError({"events": gettext("Choose at least one event type.")})
    if unknown := [name for name in events if name not in EventType.values]:
        raise ValidationError(
            {"events": gettext("Unknown event types: %(names)s.") % {"names": ", ".join(map(str, unknown))}}
        )
    return events


def create_subscription(
    *, url: str, events: Iterable[str], source: Source | None = None, is_active: bool = True
) -> tuple[Subscription, str]:
    """A new subscription and its signing secret (shown only this once)."""
    events = validate(url=url, events=events, source=source)
    salt = signing.new_salt()
    secret = signing.secret_of(salt)
    subscription = Subscription(
        url=url,
        events=events,
        source=source,
        is_active=is_active,
        secret_salt=salt,
        secret_prefix=secret[len(signing.PREFIX) : len(signing.PREFIX) + 8],
    )
    subscription.full_clean()
    subscription.save()
    return subscription, secret


def update_subscription(*, subscription: Subscription, **changes) -> Subscription:
    """Change any of CHANGEABLE (validated as at creation); Subscription.DoesNotExist when it is gone."""
    if unknown := changes.keys() - CHANGEABLE:
        raise ValidationError({name: gettext("Cannot be changed.") for name in unknown})
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.events = validate(url=locked.url, events=locked.events, source=locked.source)
        locked.full_clean()
        locked.save()
    return locked


def rotate_secret(
    *, subscription: Subscription, grace: timedelta = timedelta(0), now: datetime | None = None
) -> str:
    """A new signing secret (returned: shown only this once); the old one keeps signing next to it for
    `grace`, so a receiver can switch without refusing a delivery."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        locked.previous_salt = locked.secret_salt if grace else ""
        locked.previous_until = now + grace if grace else None
        locked.secret_salt = signing.new_salt()
        secret = signing.secret_of(locked.secret_salt)
        locked.secret_prefix = secret[len(signing.PREFIX) : len(signing.PREFIX) + 8]
        locked.save()
    subscription.secret_prefix = locked.secret_prefix
    return secret


def salts(subscription: Subscription, *, now: datetime) -> list[str]:
    """The secrets in force (their salts), the current one first."""
    if subscription.previous_salt and subscription.previous_until and now < subscription.previous_until:
        return [subscription.secret_salt, subscription.previous_salt]
    return [subscription.secret_salt]


def delete_subscription(*, subscription: Subscription) -> None:
    """Remove it with its deliveries (pending ones are never sent)."""
    Subscription.objects.filter(pk=subscription.pk).delete()


def send_test_event(*, subscription: Subscription) -> Delivery:
    """A `test` event to this subscription alone, delivered by the worker like any other."""
    return outbox.test_delivery(subscription)


def send_again(*, deliveries: Iterable[Delivery], now: datetime | None = None) -> int:
    """Queue these deliveries to be sent again now (delivered or failed ones too); how many."""
    ids = [delivery.pk for delivery in deliveries]
    return Delivery.objects.filter(pk__in=ids).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now or timezone.now(), leased_until=None, attempts=0
    )
