"""Outbound events with a real local receiver: what is sent and signed, retries with backoff on an injected
clock, the order per contact, nothing for a change that rolled back, again after a worker died mid-send."""

import random
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from crm.choices import Presence
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory
from distribution import capacity, offers
from distribution.intake import store_contact
from events import delivery, outbox, services, signing
from events.choices import DeliveryStatus, EventType
from events.models import Delivery, Event
from events.tests.receiver import Receiver

pytestmark = pytest.mark.django_db

ALL = list(EventType.values)


@pytest.fixture(autouse=True)
def local_receivers(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True  # the receivers listen on 127.0.0.1
    settings.OUTBOUND_TIMEOUT_SECONDS = 2


def source_with(*operators, **fields):
    source = SourceFactory(**fields)
    for operator in operators:
        WeightFactory(source=source, operator=operator)
    return source


def arrive(source, external_id="tg-1", **kwargs):
    return store_contact(source=source, external_id=external_id, rng=random.Random(1), **kwargs)


def test_an_assignment_is_delivered_signed_with_the_subscriptions_secret():
    anna = OperatorFactory(name="Anna")
    source = source_with(anna)
    with Receiver() as receiver:
        subscription, secret = services.create_subscription(url=receiver.url, events=ALL)
        contact = arrive(source)
        sent = delivery.deliver_due()
        assert sent.delivered == 1
        (got,) = receiver.received
    body = receiver.bodies()[0]
    event = Event.objects.get()
    assert body["id"] == str(event.public_id) == got["headers"]["Leadflow-Event-Id"]
    assert body["type"] == "contact.assigned"
    assert body["data"]["contact"] == {
        "id": contact.pk,
        "external_id": "tg-1",
        "source_id": source.pk,
        "state": "assigned",
        "operator_id": anna.pk,
        "operator_name": "Anna",
    }
    assert body["data"]["why"] == {"path": "draw", "reason": None, "by": "webhook"}
    assert got["headers"]["Content-Type"] == "application/json"
    header = got["headers"]["Leadflow-Signature"]
    assert signing.verify(secret, header, got["raw"], now=timezone.now())
    _other, other_secret = services.create_subscription(url=receiver.url, events=ALL)
    assert not signing.verify(other_secret, header, got["raw"], now=timezone.now())
    assert not signing.verify(secret, header, got["raw"] + b" ", now=timezone.now())  # tampered
    assert not signing.verify(
        secret, header, got["raw"], now=timezone.now() + timedelta(minutes=10)
    )  # replay
    stored = Delivery.objects.get(subscription=subscription)
    assert (stored.status, stored.attempts, stored.last_status) == (DeliveryStatus.DELIVERED, 1, 200)


def test_without_subscriptions_no_event_is_written_and_types_and_sources_filter():
    anna = OperatorFactory()
    bot, phone = source_with(anna), source_with(anna)
    arrive(bot, "a")
    assert not Event.objects.exists()
    with Receiver() as receiver:
        services.create_subscription(url=receiver.url, events=["contact.waiting"], source=phone)
        arrive(bot, "b")  # another source's contact: not written (nobody wants it)
        assert not Event.objects.exists()
        arrive(phone, "c")  # written (the source has a subscriber) but assigned: not this one's type
        assert delivery.deliver_due().delivered == 0 and Event.objects.count() == 1
        capacity.update_operator(operator=anna, presence=Presence.OFFLINE)
        arrive(phone, "d")
        assert delivery.deliver_due().delivered == 1
    assert [b["type"] for b in receiver.bodies()] == ["contact.waiting"]
    assert receiver.bodies()[0]["data"]["why"]["reason"] == "nobody_available"


def test_a_failed_delivery_is_retried_with_backoff_on_the_injected_clock():
    source = source_with(OperatorFactory())
    with Receiver(statuses=[500, 503]) as receiver:
        services.create_subscription(url=receiver.url, events=ALL)
        arrive(source)
        now = timezone.now()
        rng = random.Random(3)
        assert delivery.deliver_due(now=now, rng=rng).retried == 1
        first_wait = delivery.backoff(1, rng=random.Random(3))
        stored = Delivery.objects.get()
        assert stored.next_attempt_at == now + first_wait and stored.last_status == 500
        assert delivery.deliver_due(now=now + first_wait - timedelta(seconds=1)).retried == 0  # not yet
        assert delivery.deliver_due(now=now + first_wait).retried == 1  # 503
        stored.refresh_from_db()
        later = stored.next_attempt_at
        assert later - (now + first_wait) >= timedelta(seconds=24)  # 30 s less at most a fifth
        assert delivery.deliver_due(now=later).delivered == 1
    assert len(receiver.received) == 3
    assert len({r["headers"]["Leadflow-Event-Id"] for r in receiver.received}) == 1  # one event, three tries


def test_a_refused_connection_is_retried_and_after_about_a_day_given_up():
    source = source_with(OperatorFactory())
    with Receiver() as receiver:
        url = receiver.url
    services.create_subscription(url=url, events=ALL)  # nobody listens there any more
    arrive(source)
    moment = timezone.now()
    waited = timedelta(0)
    for attempt in range(1, delivery.MAX_ATTEMPTS + 1):
        sent = delivery.deliver_due(now=moment)
        stored = Delivery.objects.get()
        assert stored.attempts == attempt and stored.last_status is None and stored.last_error
        if attempt < delivery.MAX_ATTEMPTS:
            assert sent.retried == 1
            waited += stored.next_attempt_at - moment
            moment = stored.next_attempt_at
    assert sent.failed == 1 and stored.status == DeliveryStatus.FAILED
    assert timedelta(hours=18) < waited < timedelta(hours=26)  # about a day
    assert delivery.deliver_due(now=moment + timedelta(days=2)).retried == 0  # given up


def test_one_contacts_events_arrive_in_order_and_wait_behind_a_failure(rng):
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    source = source_with(anna, boris, accept_within_seconds=60)
    now = timezone.now()
    with Receiver(statuses=[500]) as receiver:
        services.create_subscription(url=receiver.url, events=ALL)
        first = arrive(source, "first", now=now)
        offers.decline(contact_id=first.pk, operator_id=first.operator_id, now=now, rng=rng)
        moved = first.__class__.objects.get(pk=first.pk)
        offers.accept(contact_id=first.pk, operator_id=moved.operator_id, now=now)
        offers.close(contact_id=first.pk, operator_id=moved.operator_id, now=now)
        other = arrive(source, "other", now=now)
        sent = delivery.deliver_due(now=now)
        # The first contact's first event failed: its later events wait; the other contact's went out.
        assert (sent.retried, sent.delivered) == (1, 1)
        assert receiver.bodies()[1]["data"]["contact"]["id"] == other.pk
        later = Delivery.objects.filter(status=DeliveryStatus.PENDING).order_by("next_attempt_at").last()
        delivery.deliver_due(now=later.next_attempt_at)
    mine = [b["type"] for b in receiver.bodies() if b["data"]["contact"]["id"] == first.pk]
    assert mine == [
        "contact.offered",  # failed once, then sent again first
        "contact.offered",
        "contact.offer_declined",
        "contact.offered",
        "contact.accepted",
        "contact.closed",
    ]


def test_a_change_that_rolled_back_sends_nothing():
    anna = OperatorFactory()
    source = source_with(anna)
    with Receiver() as receiver:
        services.create_subscription(url=receiver.url, events=ALL)
        contact = arrive(source)
        offers.close(contact_id=contact.pk, operator_id=anna.pk)
        before = Event.objects.count()
        with pytest.raises(RuntimeError), transaction.atomic():
            offers.reopen(contact_id=contact.pk)
            raise RuntimeError("the caller's transaction fails after the reopen")
        assert Event.objects.count() == before
        delivery.deliver_due()
    assert [b["type"] for b in receiver.bodies()] == ["contact.assigned", "contact.closed"]


def test_a_worker_that_died_mid_send_leaves_it_to_be_sent_again_with_the_same_id():
    source = source_with(OperatorFactory())
    with Receiver() as receiver:
        services.create_subscription(url=receiver.url, events=ALL)
        arrive(source)
        now = timezone.now()
        outbox.dispatch()
        (leased,) = delivery.claim(now=now, limit=10)  # a worker took it, and died before sending
        assert delivery.deliver_due(now=now + timedelta(seconds=30)).delivered == 0  # still leased
        assert delivery.deliver_due(now=now + delivery.LEASE).delivered == 1
    (got,) = receiver.received
    assert got["headers"]["Leadflow-Event-Id"] == str(leased.event.public_id)


def test_presence_changes_go_to_global_subscriptions():
    anna = OperatorFactory(name="Anna")
    with Receiver() as receiver:
        services.create_subscription(url=receiver.url, events=["operator.presence_changed"])
        capacity.update_operator(operator=anna, presence=Presence.AWAY, presence_reason="lunch")
        capacity.update_operator(operator=anna, name="Anna K")  # not a presence change: no event
        delivery.deliver_due()
    (body,) = receiver.bodies()
    assert (
        body["data"]["operator"]["presence"] == "away" and body["data"]["previous"]["presence"] == "available"
    )
    assert body["data"]["operator"]["presence_reason"] == "lunch"


def test_redirects_are_not_followed():
    source = source_with(OperatorFactory())
    with Receiver(statuses=[302]) as receiver:
        services.create_subscription(url=receiver.url, events=ALL)
        arrive(source)
        assert delivery.deliver_due().retried == 1
    assert len(receiver.received) == 1 and Delivery.objects.get().last_status == 302


def test_urls_must_be_http_and_public_unless_private_ones_are_allowed(settings):
    from django.core.exceptions import ValidationError

    for url in ("ftp://example.com/x", "http:///nohost", "http://user:pw@example.com/"):
        with pytest.raises(ValidationError) as refused:
            services.create_subscription(url=url, events=ALL)
        assert "url" in refused.value.message_dict
    settings.OUTBOUND_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:8000/", "http://10.0.0.5/", "http://[::1]/", "http://169.254.169.254/"):
        with pytest.raises(ValidationError):
            services.create_subscription(url=url, events=ALL)
    with pytest.raises(ValidationError) as refused:
        services.create_subscription(url="https://example.com/hooks", events=["contact.sold"])
    assert "events" in refused.value.message_dict
    # A name that resolves to a private address is refused when sending.
    attempt = delivery.post("http://localhost:9/", b"{}", {}, timeout=1)
    assert attempt.status is None and "private or local" in attempt.error


def test_a_rotated_secret_signs_next_to_the_old_one_during_its_grace():
    source = source_with(OperatorFactory())
    with Receiver() as receiver:
        subscription, old = services.create_subscription(url=receiver.url, events=ALL)
        new = services.rotate_secret(subscription=subscription, grace=timedelta(hours=1))
        arrive(source)
        delivery.deliver_due()
    (got,) = receiver.received
    header = got["headers"]["Leadflow-Signature"]
    assert header.count("v1=") == 2
    now = timezone.now()
    assert signing.verify(new, header, got["raw"], now=now) and signing.verify(
        old, header, got["raw"], now=now
    )
