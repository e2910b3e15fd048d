"""The outbox: an event is written by the transaction of the change it describes (so it exists if and only
if the change committed), and only when some active subscription may want it; the worker then makes one
delivery per subscription that wants it (`dispatch`), in the events' order.

What an event says: its id (a UUID, the receivers' key to deduplicate), type, time, and `data`: the contact
as it stood (id, the lead's external id, source, state, operator id and name) and why (the explanation's
path, reason and who), or, for an operator's presence, the operator before and after.
"""

import uuid
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.locks import only_one
from crm.models import Contact, Lead, Operator
from events.choices import EventType
from events.models import Delivery, Event, Subscription

TEST_EVENT = "leadflow.test"  # the admin's "send test event": to one subscription, whatever it wants
TEST_DATA = {"message": "A test event from Leadflow."}


def wanted(source_id: int | None) -> bool:
    """Whether an active subscription may want events of this source (None: an operator's, global ones)."""
    subscriptions = Subscription.objects.filter(is_active=True)
    scope = Q(source__isnull=True) if source_id is None else Q(source__isnull=True) | Q(source_id=source_id)
    return subscriptions.filter(scope).exists()


def contact_data(contact: Contact, *, external_id: str, operator_name: str | None) -> dict:
    """The contact as an event tells it (its id comes from the event's subject, see `body`)."""
    explanation = contact.explanation or {}
    return {
        "contact": {
            "external_id": external_id,
            "source_id": contact.source_id,
            "state": contact.state,
            "operator_id": contact.operator_id,
            "operator_name": operator_name,
        },
        "why": {
            "path": explanation.get("path") or None,
            "reason": contact.unassigned_reason or None,
            "by": explanation.get("by") or None,
        },
    }


def record(
    event_type: str, contact: Contact, *, now: datetime | None = None, subscribed: bool | None = None
) -> Event | None:
    """Write the contact's event in the current transaction, if anyone may want it (None otherwise).
    `subscribed`: whether they may, when the caller knows (a batch asks once per source)."""
    if not (wanted(contact.source_id) if subscribed is None else subscribed):
        return None
    operator_name = None
    if contact.operator_id is not None:
        operator = contact.operator if Contact.operator.is_cached(contact) else None
        operator_name = (
            operator.name
            if operator is not None and operator.pk == contact.operator_id
            else Operator.objects.filter(pk=contact.operator_id).values_list("name", flat=True).first()
        )
    external_id = (
        contact.lead.external_id
        if Contact.lead.is_cached(contact)
        else Lead.objects.filter(pk=contact.lead_id).values_list("external_id", flat=True).first()
    )
    return Event.objects.create(
        type=event_type,
        created_at=now or timezone.now(),
        source_id=contact.source_id,
        subject=f"contact:{contact.pk}",
        data=contact_data(contact, external_id=external_id, operator_name=operator_name),
    )


def record_presence(before: Operator, after: Operator, *, now: datetime | None = None) -> Event | None:
    """An operator's presence changed (any path): the operator before and after, to global subscriptions."""
    if not wanted(None):
        return None
    return Event.objects.create(
        type=EventType.OPERATOR_PRESENCE_CHANGED,
        created_at=now or timezone.now(),
        subject=f"operator:{after.pk}",
        data=presence_data(before, after),
    )


def presence_data(before: Operator, after: Operator) -> dict:
    """An operator's presence change as an event tells it: the operator after, and its presence before."""

    def presence(operator: Operator) -> dict:
        return {
            "presence": operator.presence,
            "presence_reason": operator.presence_reason or None,
            "presence_until": operator.presence_until.isoformat() if operator.presence_until else None,
        }

    return {"operator": {"id": after.pk, "name": after.name, **presence(after)}, "previous": presence(before)}


def body(event: Event) -> dict:
    """The JSON a receiver gets: {"id", "type", "created_at", "data"}; data.contact.id from the subject."""
    data = dict(event.data)
    kind, _, subject_id = event.subject.partition(":")
    if kind == "contact" and "contact" in data:
        data["contact"] = {"id": int(subject_id), **data["contact"]}
    return {
        "id": str(event.public_id),
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "data": data,
    }


def matches(subscription: Subscription, event: Event) -> bool:
    if event.type not in subscription.events:
        return False
    return subscription.source_id is None or subscription.source_id == event.source_id


DISPATCH_BATCH = 2000


def dispatch(*, limit: int = 20_000) -> int:
    """Make the deliveries of the events written since (one per subscription that wants each), oldest
    event first, one worker at a time (an advisory lock): so a subject's deliveries are made in the order
    of its events, which the sender keeps. How many events it went through."""
    seen = 0
    while seen < limit:
        with transaction.atomic():
            if not only_one("event_dispatch"):
                return seen
            events = list(Event.objects.filter(dispatched=False).order_by("id")[:DISPATCH_BATCH])
            if not events:
                return seen
            subscriptions = list(Subscription.objects.filter(is_active=True))
            Delivery.objects.bulk_create(
                [
                    Delivery(subscription=s, event=e, subject=e.subject, next_attempt_at=e.created_at)
                    for e in events
                    for s in subscriptions
                    if matches(s, e)
                ],
                ignore_conflicts=True,
            )
            Event.objects.filter(pk__in=[e.pk for e in events]).update(dispatched=True)
            seen += len(events)
    return seen


def test_delivery(subscription: Subscription) -> Delivery:
    """A test event, delivered to this subscription alone (it is dispatched at once)."""
    with transaction.atomic():
        event = Event.objects.create(
            type=TEST_EVENT,
            subject=f"test:{uuid.uuid4().hex[:12]}",
            data=TEST_DATA,
            dispatched=True,
        )
        return Delivery.objects.create(subscription=subscription, event=event, subject=event.subject)
