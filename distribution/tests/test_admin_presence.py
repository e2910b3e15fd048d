"""The operator's admin page and list: presence (form and list actions) with history, a sign-in account,
the weekly schedule inline (and "same as Monday"), company holidays."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from crm.choices import AwayReason, Presence
from crm.models import Contact, Operator, ScheduleException, ShiftInterval
from crm.tests.factories import (
    ContactFactory,
    OperatorFactory,
    SourceFactory,
    WeightFactory,
    operator_admin_form,
    page_form,
)
from distribution import capacity

pytestmark = pytest.mark.django_db


def change_url(operator) -> str:
    return reverse("admin:crm_operator_change", args=[operator.pk])


def test_a_supervisor_sets_someone_away_with_a_return_time_in_the_history(admin_client):
    anna = OperatorFactory(name="Anna")
    back = timezone.localtime() + timedelta(hours=1)
    form = operator_admin_form(
        anna,
        presence="away",
        presence_reason="lunch",
        presence_until_0=back.strftime("%Y-%m-%d"),
        presence_until_1=back.strftime("%H:%M:%S"),
    )
    assert admin_client.post(change_url(anna), form).status_code == 302
    anna.refresh_from_db()
    assert (anna.presence, anna.presence_reason) == (Presence.AWAY, AwayReason.LUNCH)
    assert abs(anna.presence_until - back) < timedelta(seconds=1)
    latest = anna.history.first()
    assert latest.history_user.username == "admin" and latest.prev_record.presence == Presence.AVAILABLE


def test_a_return_time_in_the_past_is_a_form_error_not_a_crash(admin_client):
    anna = OperatorFactory(name="Anna")
    form = operator_admin_form(
        anna,
        presence="away",
        presence_reason="break",
        presence_until_0="2020-01-01",
        presence_until_1="12:00",
    )
    page = admin_client.post(change_url(anna), form)
    assert page.status_code == 200 and "The return time must lie ahead." in page.text
    assert Operator.objects.get(pk=anna.pk).presence == Presence.AVAILABLE


def test_list_actions_set_presence_and_becoming_available_routes_the_waiting(
    admin_client, django_capture_on_commit_callbacks
):
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    url = reverse("admin:crm_operator_changelist")
    page = admin_client.post(
        url, {"action": "make_away_lunch", "_selected_action": [anna.pk, boris.pk]}, follow=True
    )
    assert "2 operators changed." in page.text
    assert set(Operator.objects.values_list("presence", "presence_reason")) == {(Presence.AWAY, "lunch")}
    source = SourceFactory()
    WeightFactory(source=source, operator=anna)
    ContactFactory(source=source, operator=None)
    with django_capture_on_commit_callbacks(execute=True):
        page = admin_client.post(
            url, {"action": "make_available", "_selected_action": [anna.pk]}, follow=True
        )
    assert "1 operator changed." in page.text
    assert Contact.objects.get().operator_id == anna.pk
    admin_client.post(url, {"action": "make_offline", "_selected_action": [boris.pk]})
    assert Operator.objects.get(pk=boris.pk).presence == Presence.OFFLINE
    # The list says where each one is.
    listing = admin_client.get(url).text
    assert "offline" in listing and "available" in listing


def test_a_sign_in_account_is_made_once_without_admin_rights(admin_client):
    anna = OperatorFactory(name="Anna")
    account_url = reverse("admin:crm_operator_account", args=[anna.pk])
    assert "Create a sign-in account" in admin_client.get(change_url(anna)).text
    password = "a long enough pass phrase 7"
    refused = admin_client.post(
        account_url, {"username": "anna", "password1": password, "password2": "other"}
    )
    assert refused.status_code == 200 and not get_user_model().objects.filter(username="anna").exists()
    done = admin_client.post(
        account_url, {"username": "anna", "password1": password, "password2": password}, follow=True
    )
    assert "signs in as “anna”" in done.text
    user = Operator.objects.get(pk=anna.pk).user
    assert (user.username, user.is_staff, user.is_superuser) == ("anna", False, False)
    assert user.check_password(password)
    again = admin_client.post(
        account_url, {"username": "anna2", "password1": password, "password2": password}, follow=True
    )
    assert "already has a sign-in account" in again.text
    assert not get_user_model().objects.filter(username="anna2").exists()


def schedule_rows(*intervals, exceptions=()) -> dict:
    data = {"shift_intervals-TOTAL_FORMS": str(len(intervals))}
    for n, (weekday, starts, ends) in enumerate(intervals):
        data |= {
            f"shift_intervals-{n}-weekday": str(weekday),
            f"shift_intervals-{n}-starts": starts,
            f"shift_intervals-{n}-ends": ends,
        }
    data["schedule_exceptions-TOTAL_FORMS"] = str(len(exceptions))
    for n, (start, end, kind) in enumerate(exceptions):
        data |= {
            f"schedule_exceptions-{n}-start_date": start,
            f"schedule_exceptions-{n}-end_date": end,
            f"schedule_exceptions-{n}-kind": kind,
        }
    return data


def test_the_weekly_schedule_is_saved_inline_and_monday_copied_to_the_weekdays(admin_client):
    anna = OperatorFactory(name="Anna", timezone="Europe/Berlin")
    form = operator_admin_form(
        anna,
        **schedule_rows(
            (0, "09:00", "13:00"),
            (0, "14:00", "18:00"),
            (5, "10:00", "12:00"),
            exceptions=[("2026-12-24", "2026-12-26", "day_off")],
        ),
        _monday_to_weekdays="Tuesday to Friday",
    )
    response = admin_client.post(change_url(anna), form)
    assert response.status_code == 302 and response.url == change_url(anna)  # stays on the page
    rows = list(ShiftInterval.objects.filter(operator=anna).values_list("weekday", "starts", "ends"))
    assert len(rows) == 11  # Monday's two on Monday to Friday, Saturday's own
    assert (4, time(14), time(18)) in rows and (5, time(10), time(12)) in rows
    assert ScheduleException.objects.get(operator=anna).end_date == date(2026, 12, 26)
    anna.refresh_from_db()
    assert anna.scheduled and anna.shift_starts_at is not None
    # The admin's log says what the inlines did.
    assert admin_client.get(reverse("admin:crm_operator_history", args=[anna.pk])).status_code == 200


def test_a_schedule_row_refused_is_an_inline_error_and_nothing_is_saved(admin_client):
    anna = OperatorFactory(name="Anna")
    form = operator_admin_form(anna, **schedule_rows((0, "09:00", "09:00")))
    page = admin_client.post(change_url(anna), form)
    assert page.status_code == 200 and "An interval needs a length." in page.text
    assert not ShiftInterval.objects.exists()


def test_a_company_holiday_added_in_the_admin_stops_scheduled_operators(admin_client):
    from distribution import schedules

    anna = OperatorFactory(name="Anna", timezone="UTC")
    schedules.set_schedule(
        operator=anna,
        intervals=[
            schedules.Interval(d, t, time((t.hour + 12) % 24)) for d in range(7) for t in (time(0), time(12))
        ],
        exceptions=[],
    )
    today = timezone.localdate()
    response = admin_client.post(
        reverse("admin:crm_holiday_add"),
        {
            "start_date": str(today - timedelta(days=1)),
            "end_date": str(today + timedelta(days=1)),
            "kind": "day_off",
        },
    )
    assert response.status_code == 302
    (holiday,) = ScheduleException.objects.filter(operator=None)
    anna.refresh_from_db()
    assert anna.shift_starts_at >= datetime.combine(today + timedelta(days=2), time(0), tzinfo=UTC)
    admin_client.post(reverse("admin:crm_holiday_delete", args=[holiday.pk]), {"post": "yes"})
    anna.refresh_from_db()
    assert not ScheduleException.objects.exists() and anna.shift_starts_at <= timezone.now()


def test_presence_history_reads_in_words_on_the_changes_page(admin_client):
    anna = OperatorFactory(name="Anna")
    capacity.update_operator(operator=anna, presence=Presence.AWAY, presence_reason=AwayReason.MEETING)
    page = admin_client.get(reverse("change_list")).text
    assert "presence</span> available → away" in page
    assert "meeting" in page


def test_a_page_opened_before_the_operator_went_away_does_not_bring_them_back(admin_client):
    # The supervisor opens Anna's page while she is available; she goes to lunch (her own page, the API or
    # the worker); the supervisor then saves a new limit. Only what the page changed is written.
    anna = OperatorFactory(name="Anna", load_limit=10)
    form = operator_admin_form(anna, load_limit="12")  # the page as it was loaded, one field changed
    capacity.update_operator(
        operator=Operator.objects.get(pk=anna.pk), presence="away", presence_reason="lunch"
    )
    assert admin_client.post(change_url(anna), form).status_code == 302
    anna.refresh_from_db()
    assert (anna.load_limit, anna.presence, anna.presence_reason) == (12, "away", "lunch")
    # A presence the page does change is still written, tidied as ever.
    anna.refresh_from_db()
    assert (
        admin_client.post(change_url(anna), operator_admin_form(anna, presence="available")).status_code
        == 302
    )
    anna.refresh_from_db()
    assert (anna.presence, anna.presence_reason) == ("available", "")


def test_the_operator_page_itself_carries_what_it_showed(admin_client):
    # What the rendered page posts, not a test's idea of it: opened while Anna was available, saved with a
    # new limit after she went to lunch.
    anna = OperatorFactory(name="Anna", load_limit=10)
    form = page_form(admin_client.get(change_url(anna)).text)
    assert form["initial-presence"] == ["available"] and form["initial-load_limit"] == ["10"]
    form["load_limit"] = ["12"]
    capacity.update_operator(
        operator=Operator.objects.get(pk=anna.pk), presence="away", presence_reason="lunch"
    )
    assert admin_client.post(change_url(anna), form).status_code == 302
    anna.refresh_from_db()
    assert (anna.load_limit, anna.presence, anna.presence_reason) == (12, "away", "lunch")


def test_a_change_through_a_stale_copy_writes_only_what_it_names():
    # An API call or the operator's own page reads the operator, then changes one field; meanwhile the
    # worker set them away for missed offers. The change must not write back the presence it read.
    anna = OperatorFactory(name="Anna", load_limit=10)
    stale = Operator.objects.get(pk=anna.pk)
    capacity.update_operator(
        operator=Operator.objects.get(pk=anna.pk), presence="away", presence_reason=AwayReason.MISSED_OFFERS
    )
    capacity.update_operator(operator=stale, load_limit=5)
    anna.refresh_from_db()
    assert (anna.load_limit, anna.presence, anna.presence_reason) == (5, "away", AwayReason.MISSED_OFFERS)
    assert (stale.presence, stale.presence_reason) == ("away", AwayReason.MISSED_OFFERS)  # as stored
