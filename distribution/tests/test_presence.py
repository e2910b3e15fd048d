"""Only operators who are there take contacts: switched on, on shift (to the second, in their own zone) and
available; the others are named in the explanation, and a contact nobody can take says why it waits."""

import random
from datetime import UTC, date, datetime, time, timedelta

import pytest

from crm.choices import AwayReason, Presence, UnassignedReason
from crm.models import Contact, Operator
from crm.tests.factories import ContactFactory, OperatorFactory, SourceFactory, WeightFactory
from distribution import capacity, schedules
from distribution.intake import store_contact

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
# Monday 2026-12-07: Berlin is UTC+1 in winter, so 09:00–18:00 there is 08:00–17:00 UTC.
MONDAY_9_BERLIN = datetime(2026, 12, 7, 8, tzinfo=UTC)
MONDAY_18_BERLIN = datetime(2026, 12, 7, 17, tzinfo=UTC)


def source_with(*operators):
    source = SourceFactory()
    for operator in operators:
        WeightFactory(source=source, operator=operator)
    return source


def arrive(source, *, now=None, seed=0) -> Contact:
    arrive.n = getattr(arrive, "n", 0) + 1
    return store_contact(
        source=source, external_id=f"lead-{arrive.n}", now=now, rng=random.Random(seed + arrive.n)
    )


def nine_to_six(operator, now=MONDAY_9_BERLIN - timedelta(hours=2)):
    operator.timezone = "Europe/Berlin"
    operator.save()
    schedules.set_schedule(
        operator=operator,
        intervals=[schedules.Interval(d, time(9), time(18)) for d in range(5)],
        exceptions=[],
        now=now,
    )
    operator.refresh_from_db()
    return operator


def test_only_available_operators_are_given_contacts_and_the_others_are_named():
    anna = OperatorFactory(name="Anna", load_limit=100)
    boris, vera = OperatorFactory(name="Boris"), OperatorFactory(name="Vera")
    capacity.update_operator(operator=boris, presence=Presence.AWAY, presence_reason=AwayReason.LUNCH)
    capacity.update_operator(operator=vera, presence=Presence.OFFLINE)
    source = source_with(anna, boris, vera)
    for seed in range(20):
        contact = arrive(source, seed=seed)
        assert contact.operator_id == anna.pk
    excluded = {c["operator_id"]: c.get("excluded") for c in contact.explanation["candidates"]}
    assert excluded == {anna.pk: None, boris.pk: "away", vera.pk: "offline"}


def test_everyone_away_or_offline_waits_as_nobody_available():
    anna, boris = OperatorFactory(), OperatorFactory()
    capacity.update_operator(operator=anna, presence=Presence.AWAY, presence_reason=AwayReason.BREAK)
    capacity.update_operator(operator=boris, presence=Presence.OFFLINE)
    contact = arrive(source_with(anna, boris))
    assert contact.operator_id is None
    assert contact.unassigned_reason == UnassignedReason.NOBODY_AVAILABLE


def test_the_reasons_follow_the_order_of_the_rules():
    """Switched off before off shift before away before full: the first rule that leaves everyone out."""
    off, night, away, full = (OperatorFactory(load_limit=1) for _ in range(4))
    Operator.objects.filter(pk=off.pk).update(is_active=False)
    nine_to_six(night)
    capacity.update_operator(operator=away, presence=Presence.OFFLINE)
    ContactFactory(operator=full)
    sunday = datetime(2026, 12, 6, 12, tzinfo=UTC)
    cases = [
        ([off], UnassignedReason.ALL_INACTIVE),
        ([off, night], UnassignedReason.NOBODY_ON_SHIFT),
        ([off, night, away], UnassignedReason.NOBODY_AVAILABLE),
        ([off, night, away, full], UnassignedReason.ALL_AT_LIMIT),
    ]
    for operators, reason in cases:
        contact = arrive(source_with(*operators), now=sunday)
        assert (contact.operator_id, contact.unassigned_reason) == (None, reason), reason


def test_a_shift_takes_contacts_from_its_first_second_to_before_its_last(settings):
    anna = nine_to_six(OperatorFactory(name="Anna"))
    source = source_with(anna)
    assert arrive(source, now=MONDAY_9_BERLIN - SECOND).unassigned_reason == UnassignedReason.NOBODY_ON_SHIFT
    assert arrive(source, now=MONDAY_9_BERLIN).operator_id == anna.pk
    assert arrive(source, now=MONDAY_18_BERLIN - SECOND).operator_id == anna.pk
    late = arrive(source, now=MONDAY_18_BERLIN)
    assert late.operator_id is None and late.unassigned_reason == UnassignedReason.NOBODY_ON_SHIFT
    assert late.explanation["candidates"][0]["excluded"] == "off_shift"


def test_a_day_off_and_a_company_holiday_keep_a_scheduled_operator_out():
    anna, always = nine_to_six(OperatorFactory(name="Anna")), OperatorFactory(name="Round the clock")
    source = source_with(anna)
    schedules.add_holiday(
        holiday=schedules.DateRange(date(2026, 12, 7), date(2026, 12, 7)), now=MONDAY_9_BERLIN - SECOND
    )
    anna.refresh_from_db()
    assert arrive(source, now=MONDAY_9_BERLIN + timedelta(hours=1)).operator_id is None
    # Operators without a weekly schedule keep working on company holidays.
    assert arrive(source_with(always), now=MONDAY_9_BERLIN + timedelta(hours=1)).operator_id == always.pk


def test_someone_becoming_available_routes_the_waiting_contacts_at_once(django_capture_on_commit_callbacks):
    anna = OperatorFactory(load_limit=5)
    capacity.update_operator(operator=anna, presence=Presence.OFFLINE)
    source = source_with(anna)
    waiting = [arrive(source) for _ in range(3)]
    assert all(c.operator_id is None for c in waiting)
    with django_capture_on_commit_callbacks(execute=True):
        routed = capacity.update_operator(operator=anna, presence=Presence.AVAILABLE)
    assert routed.assigned == 3
    assert set(Contact.objects.filter(operator=anna).values_list("pk", flat=True)) == {c.pk for c in waiting}
    # Going away routes nothing.
    arrive(source)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        capacity.update_operator(operator=anna, presence=Presence.OFFLINE)
    assert callbacks == []


def test_presence_is_kept_tidy_and_a_return_time_must_lie_ahead():
    from django.core.exceptions import ValidationError

    anna = OperatorFactory()
    capacity.update_operator(
        operator=anna,
        presence=Presence.AWAY,
        presence_reason=AwayReason.LUNCH,
        presence_until=datetime(2999, 1, 1, tzinfo=UTC),
    )
    capacity.update_operator(operator=anna, presence=Presence.AVAILABLE)
    anna.refresh_from_db()
    assert (anna.presence_reason, anna.presence_until) == ("", None)
    with pytest.raises(ValidationError) as refused:
        capacity.update_operator(
            operator=anna, presence=Presence.AWAY, presence_until=datetime(2000, 1, 1, tzinfo=UTC)
        )
    assert "presence_until" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        capacity.update_operator(operator=anna, presence="asleep")
    assert "presence" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        capacity.update_operator(operator=anna, timezone="Mars/Olympus")
    assert "timezone" in refused.value.message_dict


def test_every_presence_change_is_in_the_history_with_old_and_new():
    anna = OperatorFactory()
    capacity.update_operator(operator=anna, presence=Presence.AWAY, presence_reason=AwayReason.MEETING)
    capacity.update_operator(operator=anna, presence=Presence.OFFLINE)
    records = list(anna.history.order_by("history_id").values_list("presence", "presence_reason"))
    assert records == [
        (Presence.AVAILABLE, ""),
        (Presence.AWAY, AwayReason.MEETING),
        (Presence.OFFLINE, ""),
    ]


def test_a_new_time_zone_moves_the_shift_with_it():
    anna = nine_to_six(OperatorFactory())
    assert anna.shift_starts_at == MONDAY_9_BERLIN
    capacity.update_operator(
        operator=anna, timezone="Europe/Moscow", now=MONDAY_9_BERLIN - timedelta(hours=4)
    )
    anna.refresh_from_db()
    assert anna.shift_starts_at == datetime(2026, 12, 7, 6, tzinfo=UTC)  # 09:00 in Moscow
