"""capacity.update_operator's presence rules: what a caller names together must hold together, while the
tidying of what it left out stays (available clears the reason and the return time, offline the reason)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.choices import AwayReason, Presence
from crm.models import Operator
from crm.tests.factories import OperatorFactory
from distribution import capacity

pytestmark = pytest.mark.django_db


def away(**fields) -> Operator:
    return OperatorFactory(
        presence=Presence.AWAY,
        presence_reason=AwayReason.LUNCH,
        presence_until=timezone.now() + timedelta(hours=1),
        **fields,
    )


@pytest.mark.parametrize(
    "start, changes, field",
    [
        ({}, {"presence_reason": AwayReason.BREAK}, "presence_reason"),  # available with a reason
        ({}, {"presence": Presence.OFFLINE, "presence_reason": AwayReason.BREAK}, "presence_reason"),
        ({}, {"presence_until": timezone.now() + timedelta(hours=1)}, "presence_until"),
        (
            {"presence": Presence.AWAY},
            {"presence": Presence.AVAILABLE, "presence_until": timezone.now() + timedelta(hours=1)},
            "presence_until",
        ),
    ],
)
def test_a_reason_or_return_time_named_with_a_presence_it_cannot_go_with_is_refused(start, changes, field):
    """Mutant: the service tidies them away silently (the change answered as done, and not done)."""
    operator = OperatorFactory(**start)
    with pytest.raises(ValidationError) as refused:
        capacity.update_operator(operator=operator, **changes)
    assert list(refused.value.message_dict) == [field]
    stored = Operator.objects.get(pk=operator.pk)
    assert (stored.presence, stored.presence_reason, stored.presence_until) == (
        start.get("presence", "available"),
        "",
        None,
    )


def test_what_a_caller_leaves_out_is_still_tidied():
    operator = away()
    capacity.update_operator(operator=operator, presence=Presence.OFFLINE)  # the return time stays
    operator.refresh_from_db()
    assert (operator.presence, operator.presence_reason) == (Presence.OFFLINE, "")
    assert operator.presence_until is not None
    capacity.update_operator(operator=operator, presence=Presence.AVAILABLE)  # the worker's return
    operator.refresh_from_db()
    assert (operator.presence, operator.presence_reason, operator.presence_until) == ("available", "", None)


def test_a_reason_and_return_time_with_away_are_kept():
    operator = OperatorFactory()
    until = timezone.now() + timedelta(minutes=30)
    capacity.update_operator(
        operator=operator, presence=Presence.AWAY, presence_reason=AwayReason.MEETING, presence_until=until
    )
    operator.refresh_from_db()
    assert (operator.presence, operator.presence_reason, operator.presence_until) == (
        "away",
        "meeting",
        until,
    )
