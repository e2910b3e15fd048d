"""Who answers and how fast (crm.selectors.outcomes) on a known data set: the same figures on SQLite and
PostgreSQL, medians and 90th percentiles as percentile_cont interpolates them."""

from datetime import UTC, datetime, timedelta

import pytest

from crm.choices import ContactState, OfferOutcome
from crm.models import Offer
from crm.selectors.outcomes import outcomes, percentile
from crm.tests.factories import ContactFactory, OperatorFactory, SourceFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
S = timedelta(seconds=1)


def offer(contact, operator, *, at, ended_after=None, outcome=OfferOutcome.PENDING, by=""):
    return Offer.objects.create(
        contact=contact,
        source=contact.source,
        operator=operator,
        offered_at=at,
        ended_at=None if ended_after is None else at + ended_after,
        outcome=outcome,
        ended_by=by,
    )


@pytest.fixture
def data():
    bot, phone = SourceFactory(name="Bot"), SourceFactory(name="Phone")
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    # Anna accepts three offers after 10, 30 and 50 s and closes two after 60 and 120 s.
    for n, wait in enumerate((10, 30, 50)):
        contact = ContactFactory(
            source=bot,
            operator=anna,
            created_at=T0 + n * 60 * S,
            assigned_at=T0 + n * 60 * S,
            state=ContactState.ACCEPTED,
        )
        offer(contact, anna, at=contact.assigned_at, ended_after=wait * S, outcome=OfferOutcome.ACCEPTED)
        if n < 2:
            contact.state, contact.closed_at = ContactState.CLOSED, contact.assigned_at + (60 + 60 * n) * S
            contact.save()
    # Boris declines one and lets one expire; both went on to Anna's colleagues (nobody here: waiting).
    for outcome in (OfferOutcome.DECLINED, OfferOutcome.EXPIRED):
        waiting = ContactFactory(source=phone, operator=None, created_at=T0)
        offer(waiting, boris, at=T0, ended_after=20 * S, outcome=outcome)
    # A supervisor's pick, accepted the moment it was made: not an answer, left out of the times.
    picked = ContactFactory(source=phone, operator=boris, assigned_at=T0, state=ContactState.ACCEPTED)
    offer(picked, boris, at=T0, ended_after=0 * S, outcome=OfferOutcome.ACCEPTED, by="sam")
    # Out of the period: the day before.
    old = ContactFactory(
        source=bot, operator=anna, created_at=T0 - timedelta(days=1), assigned_at=T0 - timedelta(days=1)
    )
    offer(old, anna, at=old.assigned_at, ended_after=5 * S, outcome=OfferOutcome.ACCEPTED)
    return {"anna": anna, "boris": boris, "bot": bot, "phone": phone}


def test_per_operator(data):
    found = outcomes(by="operator", since=T0, until=T0 + timedelta(days=1))
    anna, boris = found[data["anna"].pk], found[data["boris"].pk]
    assert (anna.assigned, anna.offered, anna.accepted, anna.declined, anna.expired, anna.closed) == (
        3,
        3,
        3,
        0,
        0,
        2,
    )
    assert anna.accept_median == 30 * S and anna.accept_p90 == 46 * S  # 30 + (50 − 30) × 0.8
    assert anna.close_median == 90 * S and anna.close_p90 == 114 * S  # 60 + (120 − 60) × 0.9
    assert (boris.assigned, boris.offered, boris.accepted, boris.declined, boris.expired) == (1, 3, 1, 1, 1)
    assert boris.accept_median is None  # the supervisor's pick is no answer


def test_an_answer_is_not_a_close():
    # Contacts closed are counted by the read of their times to close, not by any other read of durations.
    vera = OperatorFactory(name="Vera")
    contact = ContactFactory(operator=vera, created_at=T0, assigned_at=T0, state=ContactState.ACCEPTED)
    offer(contact, vera, at=T0, ended_after=15 * S, outcome=OfferOutcome.ACCEPTED)
    found = outcomes(by="operator", since=T0, until=T0 + timedelta(days=1))[vera.pk]
    assert (found.accepted, found.accept_median, found.closed, found.close_median) == (1, 15 * S, 0, None)


def test_per_source_and_only_some(data):
    found = outcomes(by="source", since=T0, until=T0 + timedelta(days=1))
    bot, phone = found[data["bot"].pk], found[data["phone"].pk]
    assert (bot.offered, bot.accepted, bot.closed) == (3, 3, 2)
    assert (phone.offered, phone.declined, phone.expired, phone.accepted) == (3, 1, 1, 1)
    only = outcomes(by="source", since=T0, until=T0 + timedelta(days=1), ids=[data["phone"].pk])
    assert list(only) == [data["phone"].pk]
    # The period is half-open: a moment at `until` is the next period's.
    assert outcomes(by="operator", since=T0 - timedelta(days=1), until=T0)[data["anna"].pk].accepted == 1
    assert sum(row.offered for row in found.values()) == 6


def test_percentile_interpolates_as_percentile_cont():
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([10.0, 30.0, 50.0], 0.9) == pytest.approx(46.0)


def test_offered_counts_pending_offers_and_only_those_made_in_the_period():
    vera = OperatorFactory(name="Vera")
    source = SourceFactory()
    contact = ContactFactory(
        source=source, operator=vera, assigned_at=T0, state=ContactState.OFFERED, offer_expires_at=T0 + 60 * S
    )
    offer(contact, vera, at=T0 + 5 * S)  # pending, made in the period
    before = ContactFactory(source=source, operator=None, created_at=T0 - S)
    offer(before, vera, at=T0 - 10 * S, ended_after=20 * S, outcome=OfferOutcome.EXPIRED)  # ended inside
    found = outcomes(by="operator", since=T0, until=T0 + timedelta(days=1))[vera.pk]
    assert (found.offered, found.expired) == (1, 1)
