"""Offers with a time limit (sources with accept_within_seconds) and a contact's life: offered, accepted or
declined or expired and passed on, closed and reopened; sources without offers unchanged."""

import random
import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from crm.choices import AssignmentPath, AwayReason, ContactState, OfferOutcome, Presence, UnassignedReason
from crm.history import WORKER
from crm.models import Contact, Offer, Operator, SourceOperatorWeight
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory
from distribution import offers, queue, worker
from distribution.intake import store_contact
from distribution.manual import assign_manually
from distribution.offers import NotAllowed, OfferExpired

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)


def source_with(*operators, accept_within=60, **fields):
    source = SourceFactory(accept_within_seconds=accept_within, **fields)
    for operator in operators:
        WeightFactory(source=source, operator=operator)
    return source


ARRIVED = [0]


def arrive(source, *, now=None, seed=0) -> Contact:
    ARRIVED[0] += 1
    return store_contact(source=source, external_id=f"lead-{ARRIVED[0]}", now=now, rng=random.Random(seed))


def outcomes(contact) -> list[tuple[int, str]]:
    return list(Offer.objects.filter(contact=contact).order_by("id").values_list("operator_id", "outcome"))


def test_a_source_without_offers_assigns_as_before():
    anna = OperatorFactory()
    contact = arrive(source_with(anna, accept_within=None))
    assert (contact.operator_id, contact.state, contact.offer_expires_at) == (
        anna.pk,
        ContactState.ASSIGNED,
        None,
    )
    assert not Offer.objects.exists()


def test_the_draw_offers_the_contact_until_the_deadline_and_the_offer_counts_in_the_load():
    anna = OperatorFactory(load_limit=1)
    source = source_with(anna, accept_within=90)
    now = timezone.now()
    contact = Contact.objects.get(pk=arrive(source, now=now).pk)
    assert (contact.operator_id, contact.state) == (anna.pk, ContactState.OFFERED)
    assert contact.offer_expires_at == now + timedelta(seconds=90)
    offer = Offer.objects.get(contact=contact)
    assert (offer.operator_id, offer.outcome, offer.offered_at, offer.round) == (
        anna.pk,
        OfferOutcome.PENDING,
        now,
        0,
    )
    # Pending, it fills her limit of 1: the next contact waits.
    assert arrive(source, now=now).unassigned_reason == UnassignedReason.ALL_AT_LIMIT


def test_accept_once_twice_late_and_by_someone_else():
    anna, boris = OperatorFactory(), OperatorFactory()
    source = source_with(anna)
    now = timezone.now()
    contact = arrive(source, now=now)
    with pytest.raises(OfferExpired):
        offers.accept(contact_id=contact.pk, operator_id=boris.pk, now=now)
    accepted = offers.accept(contact_id=contact.pk, operator_id=anna.pk, now=now + 59 * SECOND)
    assert (accepted.state, accepted.accepted_at, accepted.offer_expires_at) == (
        ContactState.ACCEPTED,
        now + 59 * SECOND,
        None,
    )
    assert outcomes(contact) == [(anna.pk, OfferOutcome.ACCEPTED)]
    again = offers.accept(contact_id=contact.pk, operator_id=anna.pk, now=now + 70 * SECOND)
    assert again.accepted_at == now + 59 * SECOND  # harmless: nothing changed
    late = arrive(source, now=now)
    with pytest.raises(OfferExpired):
        offers.accept(contact_id=late.pk, operator_id=anna.pk, now=now + 60 * SECOND)  # the deadline itself
    assert Contact.objects.get(pk=late.pk).state == ContactState.OFFERED


def test_a_decline_offers_it_at_once_to_the_next_and_the_round_leaves_the_decliner_out(rng):
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    source = source_with(anna, boris)
    now = timezone.now()
    contact = arrive(source, now=now)
    first = contact.operator_id
    second = ({anna.pk, boris.pk} - {first}).pop()
    moved = offers.decline(contact_id=contact.pk, operator_id=first, now=now + SECOND, rng=rng)
    assert (moved.operator_id, moved.state) == (second, ContactState.OFFERED)
    assert moved.offer_expires_at == now + SECOND + timedelta(seconds=60)
    assert moved.explanation["path"] == AssignmentPath.REOFFER
    excluded = {c["operator_id"]: c["excluded"] for c in moved.explanation["candidates"]}
    assert excluded[first] == "passed"
    # The second declines too: nobody is left, it waits, and not before one accept period has passed.
    waiting = offers.decline(contact_id=contact.pk, operator_id=second, now=now + 2 * SECOND, rng=rng)
    assert (waiting.operator_id, waiting.state, waiting.unassigned_reason) == (
        None,
        ContactState.WAITING,
        UnassignedReason.NOBODY_ACCEPTED,
    )
    assert waiting.route_after == now + 2 * SECOND + timedelta(seconds=60)
    assert outcomes(contact) == [(first, OfferOutcome.DECLINED), (second, OfferOutcome.DECLINED)]
    assert queue.drain(now=waiting.route_after - SECOND).assigned == 0
    # The next round may offer it to anyone again.
    assert queue.drain(now=waiting.route_after).assigned == 1
    again = Contact.objects.get(pk=contact.pk)
    assert again.state == ContactState.OFFERED and again.offer_round == 1
    assert Offer.objects.filter(contact=contact, round=1).count() == 1


def test_the_worker_expires_an_offer_at_its_deadline_and_passes_it_on(rng):
    anna, boris = OperatorFactory(name="Anna", load_limit=1), OperatorFactory(name="Boris")
    source = source_with(anna, boris, missed_offers_before_away=0)
    now = timezone.now()
    contact = arrive(source, now=now)
    first = contact.operator_id
    deadline = contact.offer_expires_at
    assert worker.run_once(now=deadline - SECOND).expired == 0
    assert Contact.objects.get(pk=contact.pk).operator_id == first
    done = worker.run_once(now=deadline)
    assert done.expired == 1
    moved = Contact.objects.get(pk=contact.pk)
    assert moved.operator_id != first and moved.state == ContactState.OFFERED
    expired = Offer.objects.get(contact=contact, operator_id=first)
    assert (expired.outcome, expired.ended_at, expired.ended_by) == (OfferOutcome.EXPIRED, deadline, WORKER)
    # The expired offer no longer counts in the first operator's load.
    assert Operator.objects.with_load().get(pk=first).load == 0
    # Nothing is expired twice.
    assert worker.run_once(now=deadline + SECOND).expired == 0


def test_missed_offers_in_a_row_set_the_operator_away_and_an_answer_resets_the_count(rng):
    anna = OperatorFactory(name="Anna", load_limit=10)
    source = source_with(anna, missed_offers_before_away=2)
    now = timezone.now()
    weight = SourceOperatorWeight.objects.get(source=source, operator=anna)

    def miss(at):
        contact = arrive(source, now=at)
        offers.expire_due(now=contact.offer_expires_at)
        return contact

    miss(now)
    accepted = arrive(source, now=now)
    offers.accept(contact_id=accepted.pk, operator_id=anna.pk, now=now)
    weight.refresh_from_db()
    assert weight.missed_offers == 0  # the accept ended the run
    miss(now)
    assert Operator.objects.get(pk=anna.pk).presence == Presence.AVAILABLE
    miss(now)
    anna.refresh_from_db()
    assert (anna.presence, anna.presence_reason) == (Presence.AWAY, AwayReason.MISSED_OFFERS)
    latest = anna.history.first()
    assert latest.history_change_reason == WORKER and latest.presence_reason == AwayReason.MISSED_OFFERS
    # 0 never sets anyone away.
    boris = OperatorFactory(load_limit=10)
    never = source_with(boris, missed_offers_before_away=0)
    for _ in range(5):
        contact = arrive(never, now=now)
        offers.expire_due(now=contact.offer_expires_at)
    assert Operator.objects.get(pk=boris.pk).presence == Presence.AVAILABLE


def test_closing_and_reopening_and_who_may():
    anna, boris = OperatorFactory(), OperatorFactory()
    contact = arrive(source_with(anna))
    with pytest.raises(NotAllowed):
        offers.close(contact_id=contact.pk, operator_id=anna.pk)  # offered, not accepted
    offers.accept(contact_id=contact.pk, operator_id=anna.pk)
    with pytest.raises(OfferExpired):
        offers.close(contact_id=contact.pk, operator_id=boris.pk)
    closed = offers.close(contact_id=contact.pk, operator_id=anna.pk, outcome="  Sold a plan  ")
    assert (closed.state, closed.outcome) == (ContactState.CLOSED, "Sold a plan") and closed.closed_at
    assert offers.close(contact_id=contact.pk, operator_id=anna.pk).closed_at == closed.closed_at
    reopened = offers.reopen(contact_id=contact.pk)
    assert (reopened.state, reopened.closed_at) == (ContactState.ACCEPTED, None)
    with pytest.raises(NotAllowed):
        offers.reopen(contact_id=contact.pk)
    # A contact assigned directly closes from "assigned" and reopens to it.
    direct = arrive(source_with(anna, accept_within=None))
    offers.close(contact_id=direct.pk, operator_id=anna.pk)
    assert offers.reopen(contact_id=direct.pk).state == ContactState.ASSIGNED


def test_a_supervisor_withdraws_an_offer_or_assigns_by_hand_as_an_accepted_offer(rng):
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    source = source_with(anna, boris)
    contact = arrive(source)
    first = contact.operator_id
    moved = offers.withdraw(contact_id=contact.pk, by="sam", rng=rng)
    assert moved.operator_id not in (None, first) and moved.state == ContactState.OFFERED
    assert outcomes(contact)[0] == (first, OfferOutcome.WITHDRAWN)
    assert Offer.objects.get(contact=contact, operator_id=first).ended_by == "sam"
    # By hand: the pending offer is withdrawn, and the supervisor's pick is an offer accepted at once.
    picked = assign_manually(contact=moved, operator=Operator.objects.get(pk=first), by="sam")
    assert (picked.operator_id, picked.state) == (first, ContactState.ACCEPTED) and picked.accepted_at
    last = Offer.objects.filter(contact=contact).order_by("-id").first()
    assert (last.operator_id, last.outcome, last.ended_by) == (first, OfferOutcome.ACCEPTED, "sam")
    assert Offer.objects.filter(contact=contact, outcome=OfferOutcome.PENDING).count() == 0
    with pytest.raises(NotAllowed):
        offers.withdraw(contact_id=contact.pk, by="sam")


# --- Concurrency (PostgreSQL: real row locks) -----------------------------------------------------------


def at_once(n: int, work) -> list:
    barrier, results = threading.Barrier(n), [None] * n

    def task(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # returned, so the test sees which lost
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=task, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_accepts_racing_each_other_and_the_worker_at_the_deadline_never_make_two_owners():
    operators = [OperatorFactory(load_limit=1000) for _ in range(4)]
    source = source_with(*operators, missed_offers_before_away=0)
    for attempt in range(15):
        now = timezone.now()
        contact = arrive(source, now=now, seed=attempt)
        owner, deadline = contact.operator_id, contact.offer_expires_at
        other = next(op.pk for op in operators if op.pk != owner)

        def work(i: int, contact=contact, owner=owner, other=other, deadline=deadline):
            if i == 0:
                return offers.expire_due(now=deadline)
            operator = owner if i < 3 else other
            return offers.accept(
                contact_id=contact.pk, operator_id=operator, now=deadline - timedelta(milliseconds=1)
            )

        results = at_once(4, work)
        expired = results[0].expired
        accepts = [r for r in results[1:3] if isinstance(r, Contact)]
        final = Contact.objects.get(pk=contact.pk)
        if expired:
            # Passed on: the owner's accepts both came too late; the next operator's may have come after.
            assert accepts == [] and final.operator_id != owner
            took_it = isinstance(results[3], Contact)
            assert took_it == (final.operator_id == other and final.state == ContactState.ACCEPTED)
        else:
            assert len(accepts) == 2 and final.state == ContactState.ACCEPTED and final.operator_id == owner
            assert isinstance(results[3], OfferExpired)  # someone else's accept never takes it
        assert Offer.objects.filter(contact=contact, outcome=OfferOutcome.PENDING).count() <= 1
        owners = Offer.objects.filter(contact=contact, outcome=OfferOutcome.ACCEPTED)
        assert list(owners.values_list("operator_id", flat=True)) == (
            [final.operator_id] if final.state == ContactState.ACCEPTED else []
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_expiring_the_same_offers_pass_each_on_once():
    operators = [OperatorFactory(load_limit=1000) for _ in range(5)]
    source = source_with(*operators, missed_offers_before_away=0)
    now = timezone.now()
    contacts = [arrive(source, now=now, seed=i) for i in range(200)]
    deadline = contacts[0].offer_expires_at
    results = at_once(2, lambda i: offers.expire_due(now=deadline))
    assert sum(r.expired for r in results) == 200
    assert Offer.objects.filter(outcome=OfferOutcome.EXPIRED).count() == 200
    assert Offer.objects.filter(outcome=OfferOutcome.PENDING).count() == 200  # one new offer each
    assert Contact.objects.filter(state=ContactState.OFFERED).count() == 200


def test_the_lead_page_lists_every_offer_in_order_and_how_it_ended(admin_client, rng):
    from django.urls import reverse

    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    source = source_with(anna, boris)
    contact = arrive(source)
    first = Operator.objects.get(pk=contact.operator_id)
    offers.decline(contact_id=contact.pk, operator_id=first.pk, rng=rng)
    moved = Contact.objects.get(pk=contact.pk)
    offers.accept(contact_id=contact.pk, operator_id=moved.operator_id)
    offers.close(contact_id=contact.pk, operator_id=moved.operator_id, outcome="Sold")
    page = admin_client.get(reverse("lead_detail", args=[contact.lead_id])).text
    declined_at = page.index(f"Offered to {first.name} at")
    assert "declined at" in page[declined_at:]
    accepted_at = page.index(f"Offered to {moved.operator.name} at", declined_at + 1)
    assert "accepted at" in page[accepted_at:]
    assert "Closed at" in page and "<q>Sold</q>" in page


def test_staff_filter_by_state_and_supervisors_withdraw_and_reopen_in_the_admin(admin_client, rng):
    from django.urls import reverse

    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    source = source_with(anna, boris)
    offered, closed = arrive(source), arrive(source)
    offers.accept(contact_id=closed.pk, operator_id=closed.operator_id)
    offers.close(contact_id=closed.pk, operator_id=closed.operator_id)
    listed = admin_client.get(reverse("contact_list"), {"state": "offered"}).text
    assert f"/leads/{offered.lead_id}/" in listed and f"/leads/{closed.lead_id}/" not in listed
    assert "offered" in listed
    assert admin_client.get(reverse("contact_list"), {"state": "sleeping"}).status_code == 200  # a form error
    changelist = reverse("admin:crm_contact_changelist")
    page = admin_client.post(
        changelist, {"action": "withdraw_offers", "_selected_action": [offered.pk, closed.pk]}, follow=True
    )
    assert "1 offer withdrawn." in page.text
    assert Offer.objects.filter(contact=offered, outcome=OfferOutcome.WITHDRAWN, ended_by="admin").exists()
    page = admin_client.post(changelist, {"action": "reopen", "_selected_action": [closed.pk]}, follow=True)
    assert "1 contact reopened." in page.text
    assert Contact.objects.get(pk=closed.pk).state == ContactState.ACCEPTED
    # The source's admin page sets the accept period.
    assert (
        "accept_within_seconds" in admin_client.get(reverse("admin:crm_source_change", args=[source.pk])).text
    )
