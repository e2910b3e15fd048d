"""Presence and time zone on /api/v1/operators, the weekly schedule (/operators/{id}/schedule) and company
holidays (/holidays): through capacity.update_operator and distribution.schedules, refused field by field."""

from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.choices import AwayReason, Presence
from crm.history import field_changes
from crm.models import Contact, Operator
from crm.tests.factories import ContactFactory, OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db

# Ahead while the tests run; whole seconds, as the answers give milliseconds only.
SOON = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def away_operator(**fields) -> Operator:
    return OperatorFactory(
        presence=Presence.AWAY, presence_reason=AwayReason.LUNCH, presence_until=SOON, **fields
    )


def waiting_for(operator: Operator, n: int = 2) -> list:
    """A source whose only operator is `operator`, with `n` contacts waiting for it."""
    source = SourceFactory()
    WeightFactory(source=source, operator=operator, weight=3)
    return ContactFactory.create_batch(n, source=source, operator=None)


# --- Presence and time zone on the operator ------------------------------------------------------------


def test_a_new_operator_is_available_in_the_sites_zone_with_no_schedule(writer, settings):
    body = writer.post("/api/v1/operators", {"name": "Anna"}).json()
    assert (body["presence"], body["presence_reason"], body["presence_until"]) == ("available", None, None)
    assert body["timezone"] == settings.TIME_ZONE
    assert (body["on_shift"], body["shift_starts_at"], body["shift_ends_at"]) == (True, None, None)


def test_away_with_a_reason_and_a_return_time_is_shown_as_set(writer, reader, write_key):
    anna = OperatorFactory(name="Anna")
    back = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    # Sent with the offset of Moscow; stored and answered as the same moment (in UTC).
    sent = back.astimezone(timezone.get_fixed_timezone(180))
    response = writer.patch(
        f"/api/v1/operators/{anna.pk}",
        {"presence": "away", "presence_reason": "lunch", "presence_until": iso(sent)},
    )
    assert response.status_code == 200
    assert response.json()["waiting_assigned"] == 0
    body = reader.get(f"/api/v1/operators/{anna.pk}").json()
    assert (body["presence"], body["presence_reason"]) == ("away", "lunch")
    assert moment(body["presence_until"]) == back and body["presence_until"].endswith("Z")
    anna.refresh_from_db()
    assert (anna.presence, anna.presence_reason, anna.presence_until) == ("away", "lunch", back)
    listed = reader.get("/api/v1/operators").json()["items"]
    assert [(o["presence"], o["presence_reason"]) for o in listed] == [("away", "lunch")]


def test_a_presence_change_is_in_the_history_with_the_key_as_author(writer, write_key, admin_client):
    anna = OperatorFactory(name="Anna")
    writer.patch(f"/api/v1/operators/{anna.pk}", {"presence": "offline"})
    latest, previous = anna.history.all()[:2]
    assert latest.history_change_reason == f"api:{write_key[0].name}" and latest.history_user is None
    assert [(c.old, c.new) for c in field_changes("operator", latest, previous)] == [("available", "offline")]
    page = admin_client.get(reverse("change_list")).text
    assert f"api:{write_key[0].name}" in page and "offline" in page


@pytest.mark.django_db(transaction=True)  # committed for real: the answer comes after the drain
def test_available_clears_the_reason_and_return_time_and_routes_waiting_contacts(writer):
    anna = away_operator(load_limit=5)
    waiting_for(anna, 2)
    body = writer.patch(f"/api/v1/operators/{anna.pk}", {"presence": "available"}).json()
    assert (body["presence"], body["presence_reason"], body["presence_until"]) == ("available", None, None)
    assert body["waiting_assigned"] == 2 and body["load"] == 2
    assert not Contact.objects.filter(operator=None).exists()


def test_going_away_routes_nothing_and_keeps_the_contacts_waiting(writer, django_capture_on_commit_callbacks):
    anna = OperatorFactory(load_limit=5)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        body = writer.patch(f"/api/v1/operators/{anna.pk}", {"presence": "away"}).json()
    assert body["waiting_assigned"] == 0 and callbacks == []
    assert (body["presence"], body["presence_reason"]) == ("away", None)


def test_a_null_reason_clears_it_and_a_reason_alone_may_change_while_away(writer):
    anna = away_operator()
    assert (
        writer.patch(f"/api/v1/operators/{anna.pk}", {"presence_reason": "meeting"}).json()["presence_reason"]
        == "meeting"
    )
    body = writer.patch(f"/api/v1/operators/{anna.pk}", {"presence_reason": None}).json()
    assert (body["presence"], body["presence_reason"]) == ("away", None)
    anna.refresh_from_db()
    assert anna.presence_reason == "" and anna.presence_until == SOON  # the return time was left alone


def test_offline_may_have_a_return_time_but_no_reason(writer):
    anna = OperatorFactory()
    body = writer.patch(
        f"/api/v1/operators/{anna.pk}", {"presence": "offline", "presence_until": iso(SOON)}
    ).json()
    assert (body["presence"], moment(body["presence_until"])) == ("offline", SOON)


def test_the_time_zone_can_be_changed(writer, reader):
    anna = OperatorFactory()
    assert writer.patch(f"/api/v1/operators/{anna.pk}", {"timezone": "America/New_York"}).status_code == 200
    assert reader.get(f"/api/v1/operators/{anna.pk}").json()["timezone"] == "America/New_York"


def test_create_takes_presence_and_time_zone_by_the_same_rules(writer):
    response = writer.post(
        "/api/v1/operators",
        {"name": "Boris", "presence": "offline", "presence_until": iso(SOON), "timezone": "Asia/Tokyo"},
    )
    assert response.status_code == 201
    boris = Operator.objects.get()
    assert (boris.presence, boris.presence_until, boris.timezone) == ("offline", SOON, "Asia/Tokyo")
    refused = writer.post("/api/v1/operators", {"name": "Cleo", "presence_reason": "lunch"})
    assert refused.status_code == 400 and list(refused.json()["errors"]) == ["presence_reason"]
    assert Operator.objects.count() == 1


PAST = timezone.now() - timedelta(minutes=1)


@pytest.mark.parametrize(
    "start, payload, field",
    [
        ("available", {"presence": "busy"}, "presence"),
        ("available", {"presence": None}, "presence"),
        ("available", {"presence": "AWAY"}, "presence"),
        ("available", {"presence_reason": "break"}, "presence_reason"),  # a reason without away
        ("available", {"presence": "offline", "presence_reason": "break"}, "presence_reason"),
        ("away", {"presence": "available", "presence_reason": "break"}, "presence_reason"),
        ("available", {"presence": "away", "presence_reason": "nap"}, "presence_reason"),  # not a reason
        ("available", {"presence": "away", "presence_reason": ""}, "presence_reason"),  # none is null
        ("available", {"presence": "away", "presence_until": iso(PAST)}, "presence_until"),
        ("away", {"presence_until": iso(PAST)}, "presence_until"),
        ("available", {"presence_until": iso(SOON)}, "presence_until"),  # a return time while available
        ("away", {"presence": "available", "presence_until": iso(SOON)}, "presence_until"),
        ("available", {"presence": "away", "presence_until": "2030-01-01T12:00:00"}, "presence_until"),
        ("available", {"presence": "away", "presence_until": "2030-01-01"}, "presence_until"),
        ("available", {"presence": "away", "presence_until": 1893456000}, "presence_until"),
        ("available", {"presence": "away", "presence_until": "soon"}, "presence_until"),
        ("available", {"presence": "away", "presence_until": "9999-12-31T23:00:00-05:00"}, "presence_until"),
        ("available", {"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ("available", {"timezone": "+03:00"}, "timezone"),
        ("available", {"timezone": "europe/moscow"}, "timezone"),
        ("available", {"timezone": ""}, "timezone"),
        ("available", {"timezone": None}, "timezone"),
        ("available", {"timezone": 3}, "timezone"),
        ("available", {"presence_since": iso(SOON)}, "presence_since"),
    ],
)
def test_invalid_presence_or_time_zone_is_a_400_naming_the_field_and_changes_nothing(
    writer, start, payload, field
):
    anna = away_operator() if start == "away" else OperatorFactory()
    before = Operator.objects.filter(pk=anna.pk).values().get()
    response = writer.patch(f"/api/v1/operators/{anna.pk}", payload)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert Operator.objects.filter(pk=anna.pk).values().get() == before
    assert anna.history.count() == 1


def test_a_time_without_an_offset_is_refused_with_a_reason(writer):
    anna = OperatorFactory()
    response = writer.patch(
        f"/api/v1/operators/{anna.pk}", {"presence": "away", "presence_until": "2030-01-01T12:00:00"}
    )
    assert "offset" in response.json()["errors"]["presence_until"][0]
