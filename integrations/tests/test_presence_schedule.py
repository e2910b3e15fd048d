"""Presence and time zone on /api/v1/operators, the weekly schedule (/operators/{id}/schedule) and company
holidays (/holidays): through capacity.update_operator and distribution.schedules, refused field by field."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.choices import AwayReason, Presence
from crm.history import field_changes
from crm.models import Contact, Operator, ScheduleException
from crm.tests.factories import ContactFactory, OperatorFactory, SourceFactory, WeightFactory
from distribution import schedules
from integrations.tests.conftest import ApiClient

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


# --- The weekly schedule --------------------------------------------------------------------------------

WEEK_OF_NIGHTS = [{"weekday": day, "start": "22:00", "end": "06:00"} for day in range(7)]


def local_today(zone: str) -> date:
    return timezone.now().astimezone(ZoneInfo(zone)).date()


def days_off_around_today(zone: str) -> list[dict]:
    """Yesterday to tomorrow in the zone: off shift now, whatever the hour."""
    today = local_today(zone)
    return [
        {
            "start_date": str(today - timedelta(days=1)),
            "end_date": str(today + timedelta(days=1)),
            "kind": "day_off",
        }
    ]


def test_a_schedule_round_trips_with_a_night_shift_and_changed_hours(writer, reader):
    anna = OperatorFactory(timezone="Asia/Tokyo")
    sent = {
        "intervals": [
            {"weekday": 0, "start": "09:00", "end": "18:00"},
            {"weekday": 4, "start": "22:00:00", "end": "06:00"},  # Friday night into Saturday
            {"weekday": 5, "start": "10:00:30", "end": "14:00"},
        ],
        "exceptions": [
            {"start_date": "2026-12-31", "end_date": "2027-01-02", "kind": "day_off"},
            {
                "start_date": "2027-01-05",
                "end_date": "2027-01-05",
                "kind": "hours",
                "start": "10:00",
                "end": "14:00",
            },
        ],
    }
    response = writer.put(f"/api/v1/operators/{anna.pk}/schedule", sent)
    assert response.status_code == 200
    expected = {
        "intervals": [
            {"weekday": 0, "start": "09:00", "end": "18:00"},
            {"weekday": 4, "start": "22:00", "end": "06:00"},  # seconds only when there are some
            {"weekday": 5, "start": "10:00:30", "end": "14:00"},
        ],
        "exceptions": [
            {
                "start_date": "2026-12-31",
                "end_date": "2027-01-02",
                "kind": "day_off",
                "start": None,
                "end": None,
            },
            {
                "start_date": "2027-01-05",
                "end_date": "2027-01-05",
                "kind": "hours",
                "start": "10:00",
                "end": "14:00",
            },
        ],
        "timezone": "Asia/Tokyo",
    }
    answered = response.json()
    assert {key: answered[key] for key in expected} == expected
    assert answered["waiting_assigned"] == 0
    got = reader.get(f"/api/v1/operators/{anna.pk}/schedule").json()
    assert got == {key: value for key, value in answered.items() if key != "waiting_assigned"}
    assert set(got) == {*expected, "on_shift", "shift_starts_at", "shift_ends_at"}
    # What GET answers, PUT takes back unchanged.
    assert (
        writer.put(
            f"/api/v1/operators/{anna.pk}/schedule", {k: got[k] for k in ("intervals", "exceptions")}
        ).json()["intervals"]
        == expected["intervals"]
    )
    rows = [(i.weekday, i.starts, i.ends) for i in anna.shift_intervals.all()]
    assert rows == [(0, time(9), time(18)), (4, time(22), time(6)), (5, time(10, 0, 30), time(14))]


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo"])
def test_the_times_are_the_operators_own_and_a_night_shift_ends_the_next_morning(writer, reader, zone):
    anna = OperatorFactory(timezone=zone)
    body = writer.put(
        f"/api/v1/operators/{anna.pk}/schedule", {"intervals": WEEK_OF_NIGHTS, "exceptions": []}
    ).json()
    starts, ends = moment(body["shift_starts_at"]), moment(body["shift_ends_at"])
    local_start, local_end = starts.astimezone(ZoneInfo(zone)), ends.astimezone(ZoneInfo(zone))
    assert (local_start.time(), local_end.time()) == (time(22), time(6))
    assert local_end.date() == local_start.date() + timedelta(days=1) and ends - starts == timedelta(hours=8)
    assert body["on_shift"] is (starts <= timezone.now() < ends)
    operator = reader.get(f"/api/v1/operators/{anna.pk}").json()  # the operator shows the same shift
    assert {k: operator[k] for k in ("on_shift", "shift_starts_at", "shift_ends_at")} == {
        k: body[k] for k in ("on_shift", "shift_starts_at", "shift_ends_at")
    }


def test_a_new_time_zone_moves_the_shift_with_it(writer, reader):
    anna = OperatorFactory(timezone="UTC")
    writer.put(f"/api/v1/operators/{anna.pk}/schedule", {"intervals": WEEK_OF_NIGHTS, "exceptions": []})
    writer.patch(f"/api/v1/operators/{anna.pk}", {"timezone": "Asia/Tokyo"})
    body = reader.get(f"/api/v1/operators/{anna.pk}/schedule").json()
    assert body["timezone"] == "Asia/Tokyo"
    assert moment(body["shift_starts_at"]).astimezone(ZoneInfo("Asia/Tokyo")).time() == time(22)


def test_days_off_put_the_operator_off_shift_and_an_empty_schedule_always_on(writer, reader):
    anna = OperatorFactory(timezone="Europe/Moscow")
    body = writer.put(
        f"/api/v1/operators/{anna.pk}/schedule",
        {"intervals": [], "exceptions": days_off_around_today("Europe/Moscow")},
    ).json()
    assert body["on_shift"] is False
    next_day = local_today("Europe/Moscow") + timedelta(days=2)
    assert moment(body["shift_starts_at"]).astimezone(ZoneInfo("Europe/Moscow")) == datetime.combine(
        next_day, time(0), tzinfo=ZoneInfo("Europe/Moscow")
    )
    assert reader.get(f"/api/v1/operators/{anna.pk}").json()["on_shift"] is False
    body = writer.put(f"/api/v1/operators/{anna.pk}/schedule", {"intervals": [], "exceptions": []}).json()
    assert (body["on_shift"], body["shift_starts_at"], body["shift_ends_at"]) == (True, None, None)
    assert body["intervals"] == body["exceptions"] == []
    anna.refresh_from_db()
    assert not anna.scheduled and not anna.schedule_exceptions.exists()


@pytest.mark.django_db(transaction=True)  # committed for real: the answer comes after the drain
def test_a_schedule_that_puts_the_operator_on_shift_routes_the_waiting_contacts(writer):
    anna = OperatorFactory(timezone="UTC", load_limit=5)
    off = {"intervals": [], "exceptions": days_off_around_today("UTC")}
    assert writer.put(f"/api/v1/operators/{anna.pk}/schedule", off).json()["waiting_assigned"] == 0
    waiting_for(anna, 3)
    body = writer.put(f"/api/v1/operators/{anna.pk}/schedule", {"intervals": [], "exceptions": []}).json()
    assert body["on_shift"] is True and body["waiting_assigned"] == 3
    assert set(Contact.objects.values_list("operator_id", flat=True)) == {anna.pk}
    # Off shift again: nothing to route.
    assert writer.put(f"/api/v1/operators/{anna.pk}/schedule", off).json()["waiting_assigned"] == 0


def valid_schedule() -> dict:
    return {
        "intervals": [{"weekday": 0, "start": "09:00", "end": "18:00"}] * 2,
        "exceptions": [{"start_date": "2027-01-05", "end_date": "2027-01-05", "kind": "day_off"}] * 2,
    }


def with_item(part: str, changes: dict, *, drop: tuple[str, ...] = ()) -> dict:
    """The valid schedule with its second item of `part` changed (so the error must name index 1)."""
    body = valid_schedule()
    item = {**body[part][1], **changes}
    body[part] = [body[part][0], {k: v for k, v in item.items() if k not in drop}]
    return body


@pytest.mark.parametrize(
    "payload, field",
    [
        (with_item("intervals", {"weekday": 7}), "intervals.1.weekday"),
        (with_item("intervals", {"weekday": -1}), "intervals.1.weekday"),
        (with_item("intervals", {"weekday": "1"}), "intervals.1.weekday"),
        (with_item("intervals", {"weekday": True}), "intervals.1.weekday"),
        (with_item("intervals", {"start": "9:00"}), "intervals.1.start"),
        (with_item("intervals", {"start": "24:00"}), "intervals.1.start"),
        (with_item("intervals", {"start": "09:60"}), "intervals.1.start"),
        (with_item("intervals", {"start": "09:00+03:00"}), "intervals.1.start"),  # the zone is the operator's
        (with_item("intervals", {"start": "09:00:00.5"}), "intervals.1.start"),
        (with_item("intervals", {"start": 900}), "intervals.1.start"),
        (with_item("intervals", {"start": None}), "intervals.1.start"),
        (with_item("intervals", {}, drop=("end",)), "intervals.1.end"),
        (with_item("intervals", {"end": "09:00"}), "intervals.1.end"),  # no length: the service's rule
        (with_item("intervals", {"day": 1}), "intervals.1.day"),
        (with_item("exceptions", {"kind": "holiday"}), "exceptions.1.kind"),
        (with_item("exceptions", {}, drop=("kind",)), "exceptions.1.kind"),
        (with_item("exceptions", {"end_date": "2027-01-04"}), "exceptions.1.end_date"),
        (with_item("exceptions", {"start_date": "2027-13-01"}), "exceptions.1.start_date"),
        (with_item("exceptions", {"start_date": "05.01.2027"}), "exceptions.1.start_date"),
        (with_item("exceptions", {"start_date": 20270105}), "exceptions.1.start_date"),
        (with_item("exceptions", {"start_date": "2027-01-05T00:00:00"}), "exceptions.1.start_date"),
        (with_item("exceptions", {"kind": "hours"}), "exceptions.1.start"),  # hours need hours
        (with_item("exceptions", {"kind": "hours", "start": "10:00"}), "exceptions.1.start"),
        (
            with_item("exceptions", {"start": "10:00", "end": "12:00"}),
            "exceptions.1.start",
        ),  # a day off has none
        (with_item("exceptions", {"kind": "hours", "start": "10:00", "end": "1pm"}), "exceptions.1.end"),
        ({"intervals": []}, "exceptions"),  # the whole schedule: nothing left out by accident
        ({"exceptions": []}, "intervals"),
        ({"intervals": {}, "exceptions": []}, "intervals"),
        (
            {"intervals": [{"weekday": 0, "start": "09:00", "end": "10:00"}] * 101, "exceptions": []},
            "intervals",
        ),
        (
            {
                "intervals": [],
                "exceptions": [{"start_date": "2027-01-05", "end_date": "2027-01-05", "kind": "day_off"}]
                * 501,
            },
            "exceptions",
        ),
        ({**valid_schedule(), "timezone": "UTC"}, "timezone"),  # changed on the operator, not here
    ],
)
def test_a_bad_schedule_is_a_400_naming_the_item_and_changes_nothing(writer, payload, field):
    anna = OperatorFactory()
    schedules.set_schedule(
        operator=anna,
        intervals=[schedules.Interval(2, time(8), time(16))],
        exceptions=[schedules.DateRange(date(2027, 3, 1), date(2027, 3, 2))],
    )
    before = Operator.objects.filter(pk=anna.pk).values().get()
    response = writer.put(f"/api/v1/operators/{anna.pk}/schedule", payload)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert [(i.weekday, i.starts, i.ends) for i in anna.shift_intervals.all()] == [(2, time(8), time(16))]
    assert [(e.start_date, e.end_date) for e in anna.schedule_exceptions.all()] == [
        (date(2027, 3, 1), date(2027, 3, 2))
    ]
    assert Operator.objects.filter(pk=anna.pk).values().get() == before


def test_the_service_names_every_bad_item_at_once(writer):
    anna = OperatorFactory()
    body = {
        "intervals": [
            {"weekday": 0, "start": "09:00", "end": "09:00"},
            {"weekday": 1, "start": "09:00", "end": "10:00"},
        ],
        "exceptions": [
            {"start_date": "2027-01-05", "end_date": "2027-01-04", "kind": "day_off"},
            {"start_date": "2027-01-05", "end_date": "2027-01-05", "kind": "hours"},
        ],
    }
    errors = writer.put(f"/api/v1/operators/{anna.pk}/schedule", body).json()["errors"]
    assert set(errors) == {"intervals.0.end", "exceptions.0.end_date", "exceptions.1.start"}


def test_schedule_of_an_unknown_operator_is_404(writer, reader):
    for path in ["/api/v1/operators/999/schedule", "/api/v1/operators/99999999999999999999999/schedule"]:
        assert reader.get(path).status_code == 404
        response = writer.put(path, valid_schedule())
        assert response.status_code == 404 and list(response.json()["errors"]) == ["id"]


def test_a_read_key_reads_the_schedule_but_cannot_replace_it(reader):
    anna = OperatorFactory()
    assert reader.get(f"/api/v1/operators/{anna.pk}/schedule").status_code == 200
    response = reader.put(f"/api/v1/operators/{anna.pk}/schedule", valid_schedule())
    assert response.status_code == 403 and list(response.json()["errors"]) == ["authorization"]
    assert not anna.shift_intervals.exists()
    assert ApiClient().get(f"/api/v1/operators/{anna.pk}/schedule").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/operators/{id}/schedule?weekday=1",
        "/api/v1/holidays?from=2027-01-01",
        "/api/v1/operators/{id}?tz=UTC",
    ],
)
def test_unknown_query_parameters_are_still_refused(reader, path):
    anna = OperatorFactory()
    response = reader.get(path.format(id=anna.pk))
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [path.rsplit("?", 1)[1].split("=")[0]]


def test_contacts_nobody_can_take_say_whether_nobody_is_on_shift_or_nobody_available(writer, reader, client):
    anna = OperatorFactory(timezone="UTC")
    source = SourceFactory()
    WeightFactory(source=source, operator=anna)

    def post_contact(external_id: str) -> dict:
        return client.post(
            "/api/contacts/",
            {"external_id": external_id},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {source.token}",
        ).json()

    writer.put(
        f"/api/v1/operators/{anna.pk}/schedule", {"intervals": [], "exceptions": days_off_around_today("UTC")}
    )
    assert post_contact("night")["unassigned_reason"] == "nobody_on_shift"
    assert reader.get(f"/api/v1/sources/{source.pk}").json()["blocked"] == "nobody_on_shift"
    writer.put(f"/api/v1/operators/{anna.pk}/schedule", {"intervals": [], "exceptions": []})
    writer.patch(f"/api/v1/operators/{anna.pk}", {"presence": "away", "presence_reason": "break"})
    assert post_contact("break")["unassigned_reason"] == "nobody_available"
    assert reader.get(f"/api/v1/sources/{source.pk}").json()["blocked"] == "nobody_available"
    listed = reader.get("/api/v1/contacts", {"unassigned": "true"}).json()["items"]
    assert sorted(c["unassigned_reason"] for c in listed) == ["nobody_available", "nobody_on_shift"]


# --- Company holidays ---------------------------------------------------------------------------------------


def test_holidays_are_added_listed_by_start_date_and_removed(writer, reader):
    new_year = writer.post(
        "/api/v1/holidays", {"start_date": "2027-01-01", "end_date": "2027-01-08", "kind": "day_off"}
    )
    eve = writer.post(
        "/api/v1/holidays",
        {
            "start_date": "2026-12-31",
            "end_date": "2026-12-31",
            "kind": "hours",
            "start": "09:00",
            "end": "15:00",
        },
    )
    assert (new_year.status_code, eve.status_code) == (201, 201)
    assert eve.json() == {
        "id": eve.json()["id"],
        "start_date": "2026-12-31",
        "end_date": "2026-12-31",
        "kind": "hours",
        "start": "09:00",
        "end": "15:00",
    }
    listed = reader.get("/api/v1/holidays").json()
    assert [h["id"] for h in listed["items"]] == [eve.json()["id"], new_year.json()["id"]] and listed[
        "count"
    ] == 2
    assert reader.get("/api/v1/holidays", {"limit": 1, "offset": 1}).json()["items"] == [new_year.json()]
    assert ScheduleException.objects.filter(operator__isnull=True).count() == 2
    gone = writer.delete(f"/api/v1/holidays/{eve.json()['id']}")
    assert gone.status_code == 204 and gone.content == b""
    assert [h["id"] for h in reader.get("/api/v1/holidays").json()["items"]] == [new_year.json()["id"]]
    again = writer.delete(f"/api/v1/holidays/{eve.json()['id']}")
    assert again.status_code == 404 and list(again.json()["errors"]) == ["id"]


def test_an_operators_own_exception_is_not_a_holiday(writer, reader):
    anna = OperatorFactory()
    schedules.set_schedule(
        operator=anna, intervals=[], exceptions=[schedules.DateRange(date(2027, 3, 1), date(2027, 3, 1))]
    )
    own = anna.schedule_exceptions.get()
    assert reader.get("/api/v1/holidays").json()["items"] == []
    assert writer.delete(f"/api/v1/holidays/{own.pk}").status_code == 404
    assert anna.schedule_exceptions.exists()
    assert writer.delete("/api/v1/holidays/99999999999999999999999").status_code == 404


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"start_date": "2027-01-02", "end_date": "2027-01-01", "kind": "day_off"}, "end_date"),
        ({"start_date": "2027-01-01", "end_date": "2027-01-01", "kind": "hours"}, "start"),
        (
            {
                "start_date": "2027-01-01",
                "end_date": "2027-01-01",
                "kind": "hours",
                "start": "10:00",
                "end": "10:00",
            },
            "start",
        ),
        ({"start_date": "2027-01-01", "end_date": "2027-01-01", "kind": "day_off", "end": "10:00"}, "start"),
        ({"start_date": "2027-01-01", "end_date": "2027-01-01", "kind": "vacation"}, "kind"),
        ({"start_date": "2027-01-01", "end_date": "2027-01-01"}, "kind"),
        ({"start_date": "2027-1-1", "end_date": "2027-01-01", "kind": "day_off"}, "start_date"),
        ({"end_date": "2027-01-01", "kind": "day_off"}, "start_date"),
        (
            {"start_date": "2027-01-01", "end_date": "2027-01-01", "kind": "day_off", "operator_id": 1},
            "operator_id",
        ),
    ],
)
def test_a_bad_holiday_is_a_400_naming_its_field_and_adds_nothing(writer, payload, field):
    response = writer.post("/api/v1/holidays", payload)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not ScheduleException.objects.exists()


def test_a_read_key_lists_holidays_but_cannot_add_or_remove_them(reader):
    holiday = schedules.add_holiday(holiday=schedules.DateRange(date(2027, 1, 1), date(2027, 1, 1)))
    assert reader.get("/api/v1/holidays").json()["count"] == 1
    added = reader.post(
        "/api/v1/holidays", {"start_date": "2027-05-01", "end_date": "2027-05-01", "kind": "day_off"}
    )
    removed = reader.delete(f"/api/v1/holidays/{holiday.pk}")
    assert (added.status_code, removed.status_code) == (403, 403)
    assert list(ScheduleException.objects.values_list("pk", flat=True)) == [holiday.pk]
    assert ApiClient().get("/api/v1/holidays").status_code == 401


@pytest.mark.django_db(transaction=True)  # committed for real: the drain runs when the removal commits
def test_a_holiday_stops_scheduled_operators_and_removing_it_routes_their_waiting_contacts(writer, reader):
    zone = "UTC"
    anna = OperatorFactory(timezone=zone, load_limit=5)
    # Around the clock every day, as two halves: always on shift but for days off.
    halves = [
        {"weekday": d, "start": s, "end": e}
        for d in range(7)
        for s, e in (("00:00", "12:00"), ("12:00", "00:00"))
    ]
    assert writer.put(
        f"/api/v1/operators/{anna.pk}/schedule", {"intervals": halves, "exceptions": []}
    ).json()["on_shift"]
    holiday = writer.post("/api/v1/holidays", days_off_around_today(zone)[0]).json()
    assert reader.get(f"/api/v1/operators/{anna.pk}").json()["on_shift"] is False
    waiting_for(anna, 2)
    assert writer.delete(f"/api/v1/holidays/{holiday['id']}").status_code == 204
    assert reader.get(f"/api/v1/operators/{anna.pk}").json()["on_shift"] is True
    assert set(Contact.objects.values_list("operator_id", flat=True)) == {anna.pk}
