"""My work: an operator's own page, its poll and presence buttons, landing there after login, going offline
when logging out; who may see what, and the queries it costs."""

import json
import re
from datetime import datetime, time, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.choices import AwayReason, ContactState, Presence
from crm.models import Operator
from crm.selectors import change_page
from crm.templatetags.leadflow import when
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory
from distribution import capacity, schedules

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
BERLIN = "Europe/Berlin"
# Session and user, the user's operator, the operator with its load (and, when full, when a slot frees),
# the count and the page of open contacts, the schedule's intervals and exceptions.
MY_WORK_QUERIES = 9
# Session and user, the user's operator, the contact `after`, the new contacts, the open count, the load
# (and when a slot frees).
POLL_QUERIES = 8
STAFF_PAGES = ["lead_list", "contact_list", "queue", "trends", "change_list"]


@pytest.fixture
def anna(django_user_model) -> Operator:
    """An operator with her own account, which is not staff."""
    user = django_user_model.objects.create_user("anna", password=PASSWORD)
    return OperatorFactory(name="Anna", user=user, timezone=BERLIN, load_limit=5)


@pytest.fixture
def anna_client(client, anna):
    client.force_login(anna.user)
    return client


def poll(client, after) -> dict | None:
    response = client.get(reverse("my_work_poll"), {"after": after})
    return response.json() if response.status_code == 200 else response


def contact_ids(html: str) -> list[int]:
    """The contact rows' ids in the order shown."""
    return [int(n) for n in re.findall(r'data-contact-id="(\d+)"', html)]


# Who may see what


@pytest.mark.parametrize("name", ["my_work", "my_work_poll"])
def test_anonymous_users_are_sent_to_log_in(client, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={quote(url)}"
    assert client.post(reverse("my_presence"), {"presence": "offline"}).status_code == 302


def test_an_account_without_an_operator_is_told_so(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("clerk", password=PASSWORD))
    response = client.get(reverse("my_work"))
    assert response.status_code == 403
    assert "not linked to an operator" in response.text
    assert f'href="{reverse("dashboard")}"' not in response.text.split("</header>")[1]
    assert client.get(reverse("my_work_poll"), {"after": 0}).status_code == 403
    assert client.post(reverse("my_presence"), {"presence": "offline"}).status_code == 403


def test_a_staff_account_without_an_operator_is_pointed_to_the_dashboard(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("sam", password=PASSWORD, is_staff=True))
    response = client.get(reverse("my_work"))
    assert response.status_code == 403 and "not linked to an operator" in response.text
    assert "Go to the dashboard" in response.text
    assert "My work</a>" not in response.text.split("</header>")[0]  # not in the menu either


@pytest.mark.parametrize("name", STAFF_PAGES)
def test_an_operators_own_account_gets_403_on_every_staff_page(anna_client, name):
    response = anna_client.get(reverse(name))
    assert response.status_code == 403
    assert "not a staff account" in response.text
    assert f'<a href="{reverse("my_work")}">Go to My work</a>' in response.text


def test_an_operators_own_account_sees_no_other_work_anywhere(anna_client, anna):
    other = ContactFactory(message="Boris's customer")
    lead_page = anna_client.get(reverse("lead_detail", args=[other.lead_id]))
    assert lead_page.status_code == 403 and "Boris's customer" not in lead_page.text
    assign = reverse("contact_assign", args=[other.pk])
    assert anna_client.get(assign).status_code == 403
    assert anna_client.post(assign, {"operator": anna.pk}).status_code == 403
    assert anna_client.post(reverse("queue_assign"), {"action": "route_again"}).status_code == 403
    other.refresh_from_db()
    assert other.operator_id != anna.pk
    # The admin refuses too: its own login page, which says the account may not go on.
    admin = anna_client.get(reverse("admin:crm_contact_changelist"), follow=True)
    assert admin.redirect_chain[0][0].startswith(reverse("admin:login"))
    assert "not authorized to access this page" in admin.text
    assert "Boris's customer" not in admin.text


def test_the_dashboard_sends_an_operators_own_account_to_my_work(anna_client):
    response = anna_client.get(reverse("dashboard"))
    assert response.status_code == 302 and response["Location"] == reverse("my_work")


def test_an_operators_own_account_has_only_my_work_in_the_menu_and_go_offline_on_log_out(anna_client):
    page = anna_client.get(reverse("my_work")).text
    header = page.split("</header>")[0]
    assert f'<a href="{reverse("my_work")}" aria-current="page">My work</a>' in header
    for staff_page in ["dashboard", "lead_list", "contact_list", "queue", "change_list", "admin:index"]:
        assert f'href="{reverse(staff_page)}"' not in header, staff_page
    assert 'name="go_offline" value="1" checked' in header


def test_a_staff_operator_sees_the_staff_pages_and_my_work(client, django_user_model):
    user = django_user_model.objects.create_user("vera", password=PASSWORD, is_staff=True)
    OperatorFactory(user=user)
    client.force_login(user)
    assert client.get(reverse("my_work")).status_code == 200
    dashboard = client.get(reverse("dashboard"))
    assert dashboard.status_code == 200
    header = dashboard.text.split("</header>")[0]
    assert f'href="{reverse("my_work")}"' in header and f'href="{reverse("lead_list")}"' in header
    assert 'name="go_offline"' in header


def test_staff_who_are_not_operators_have_no_go_offline_choice(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("sam", password=PASSWORD, is_staff=True))
    header = client.get(reverse("dashboard")).text.split("</header>")[0]
    assert "go_offline" not in header and f'href="{reverse("my_work")}"' not in header


# Landing after login


def test_an_operator_lands_on_my_work_after_login_and_others_on_the_dashboard(
    client, anna, django_user_model
):
    response = client.post(reverse("login"), {"username": "anna", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("my_work")
    client.post(reverse("logout"))
    django_user_model.objects.create_user("sam", password=PASSWORD, is_staff=True)
    response = client.post(reverse("login"), {"username": "sam", "password": PASSWORD})
    assert response["Location"] == reverse("dashboard")


def test_next_wins_over_my_work_after_login(client, django_user_model):
    user = django_user_model.objects.create_user("vera", password=PASSWORD, is_staff=True)
    OperatorFactory(user=user)
    wanted = reverse("contact_list")
    response = client.post(reverse("login"), {"username": "vera", "password": PASSWORD, "next": wanted})
    assert response["Location"] == wanted


# What the page shows


def test_only_the_operators_own_open_contacts_newest_given_first(anna_client, anna):
    now = timezone.now()
    older = ContactFactory(operator=anna, created_at=now - timedelta(hours=3))
    newer = ContactFactory(operator=anna, created_at=now - timedelta(hours=1))
    # Waited in the queue since before both, and given to Anna just now: the newest for her.
    drained = ContactFactory(operator=anna, created_at=now - timedelta(hours=5), assigned_at=now)
    # Open however old (out of the load window too), until it is closed.
    yesterdays = ContactFactory(operator=anna, created_at=now - timedelta(hours=30))
    closed = ContactFactory(operator=anna, state=ContactState.CLOSED, closed_at=now)
    ContactFactory(message="Boris's customer")
    ContactFactory(operator=None, message="Nobody's yet")
    page = anna_client.get(reverse("my_work")).text
    assert contact_ids(page) == [drained.pk, newer.pk, older.pk, yesterdays.pk]
    assert closed.pk not in contact_ids(page)
    assert "Boris's customer" not in page and "Nobody's yet" not in page
    assert f'data-after="{drained.pk}"' in page


def test_a_row_has_the_lead_the_source_and_the_whole_message_escaped_with_its_lines(anna_client, anna):
    lead = LeadFactory(external_id="tg-1001", name="Ivan Petrov")
    message = "Hello <b>there</b>\nsecond line " + "long " * 60 + "end"
    ContactFactory(operator=anna, lead=lead, message=message, source__name="Telegram bot")
    page = anna_client.get(reverse("my_work")).text
    assert "Ivan Petrov" in page and "tg-1001" in page and "Telegram bot" in page
    assert "Hello &lt;b&gt;there&lt;/b&gt;<br>second line" in page
    assert "<b>there</b>" not in page
    assert "long end" in page  # whole, not cut short


def test_times_are_in_the_operators_zone_and_say_so(client, django_user_model):
    user = django_user_model.objects.create_user("kenji", password=PASSWORD)
    operator = OperatorFactory(user=user, timezone="Asia/Tokyo")
    contact = ContactFactory(operator=operator)
    client.force_login(user)
    page = client.get(reverse("my_work")).text
    assert "Times are in your time zone, Asia/Tokyo." in page
    local = contact.created_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert local.strftime("%Y-%m-%d %H:%M JST") in page


def test_contacts_come_fifty_a_page_and_only_the_first_page_polls(anna_client, anna):
    now = timezone.now()
    for i in range(55):
        ContactFactory(operator=anna, created_at=now - timedelta(minutes=i))
    first = anna_client.get(reverse("my_work"))
    assert len(contact_ids(first.text)) == 50
    assert "1–50 of 55 contacts" in first.text and "data-poll-url" in first.text
    second = anna_client.get(reverse("my_work"), {"page": 2})
    assert len(contact_ids(second.text)) == 5
    assert "data-poll-url" not in second.text


def test_load_against_the_limit_and_when_the_next_slot_frees(anna_client, anna, settings):
    now = timezone.now()
    anna.load_limit = 2
    anna.save()
    first = ContactFactory(operator=anna, created_at=now - timedelta(hours=3))
    ContactFactory(operator=anna, created_at=now - timedelta(hours=1))
    page = anna_client.get(reverse("my_work")).text
    assert "2 / 2" in page and "full" in page
    with timezone.override(BERLIN):
        frees = when(first.assigned_at + timedelta(hours=settings.LOAD_WINDOW_HOURS))
    assert "next slot frees at <time" in page and frees in page


def test_presence_now_with_its_reason_and_return_time(anna_client, anna):
    back = timezone.now() + timedelta(minutes=30)
    capacity.update_operator(
        operator=anna, presence=Presence.AWAY, presence_reason=AwayReason.LUNCH, presence_until=back
    )
    page = anna_client.get(reverse("my_work")).text
    with timezone.override(BERLIN):
        assert f'back at <time datetime="{back.isoformat()}">{when(back)}</time>' in page
    assert 'data-reason="lunch" aria-pressed="true"' in page
    assert 'data-presence="available" aria-pressed="false"' in page


def every_day(starts: time, ends: time) -> list[schedules.Interval]:
    return [schedules.Interval(day, starts, ends) for day in range(7)]


def test_shift_today_in_the_operators_zone(anna_client, anna):
    schedules.set_schedule(
        operator=anna,
        intervals=[*every_day(time(0, 0), time(13)), *every_day(time(14), time(0, 0))],
        exceptions=[],
    )
    page = anna_client.get(reverse("my_work")).text
    today = timezone.now().astimezone(ZoneInfo(BERLIN))
    assert f"Today ({today:%A}, Europe/Berlin)" in page
    assert "00:00–13:00" in page and "14:00–00:00 (to the next day)" in page
    assert "on shift until" in page or "off shift; next shift at" in page


def test_a_company_holiday_today_is_a_day_off_and_no_schedule_is_always_on_shift(anna_client, anna):
    page = anna_client.get(reverse("my_work")).text
    assert "No schedule: always on shift." in page
    schedules.set_schedule(operator=anna, intervals=every_day(time(9), time(17)), exceptions=[])
    today = timezone.now().astimezone(ZoneInfo(BERLIN)).date()
    schedules.add_holiday(holiday=schedules.DateRange(today, today))
    page = anna_client.get(reverse("my_work")).text
    assert "Day off: company holiday." in page and "09:00–17:00" not in page
    assert "off shift; next shift at" in page


@pytest.mark.parametrize("contacts", [3, 60])
def test_the_page_runs_a_fixed_number_of_queries(anna_client, anna, django_assert_max_num_queries, contacts):
    anna.load_limit = 3
    anna.save()
    schedules.set_schedule(operator=anna, intervals=every_day(time(9), time(17)), exceptions=[])
    for _ in range(contacts):
        ContactFactory(operator=anna)
    with django_assert_max_num_queries(MY_WORK_QUERIES):
        response = anna_client.get(reverse("my_work"))
    assert len(contact_ids(response.text)) == min(contacts, 50)


# The poll


def test_the_poll_answers_only_newer_own_contacts_from_the_pages_rows(anna_client, anna):
    now = timezone.now()
    shown = ContactFactory(operator=anna, created_at=now - timedelta(minutes=5))
    ContactFactory(operator=anna, created_at=now - timedelta(minutes=10))
    ContactFactory(message="Boris's customer")  # another operator's, newer
    assert poll(anna_client, shown.pk)["count"] == 0
    new = ContactFactory(operator=anna, message="Hi\nthere")
    drained = ContactFactory(operator=anna, created_at=now - timedelta(hours=2), assigned_at=now)
    answer = poll(anna_client, shown.pk)
    assert answer["count"] == 2 and not answer["more"]
    assert contact_ids(answer["html"]) == [new.pk, drained.pk]  # newest given first, as on the page
    assert answer["newest"] == new.pk
    assert "Hi<br>there" in answer["html"] and "Boris" not in answer["html"]
    assert answer["open"] == 4 and "4 / 5" in answer["load"]
    assert answer["presence"] == "available" and answer["announce"] == "2 new contacts."
    assert poll(anna_client, new.pk)["count"] == 0


def test_the_poll_from_nothing_shown_answers_every_open_contact(anna_client, anna):
    first = ContactFactory(operator=anna)
    answer = poll(anna_client, 0)
    assert answer["count"] == 1 and answer["newest"] == first.pk


def test_a_flood_beyond_a_page_asks_for_a_reload(anna_client, anna):
    for _ in range(51):
        ContactFactory(operator=anna)
    answer = poll(anna_client, 0)
    assert answer["more"] and answer["count"] == 50


@pytest.mark.parametrize("after", ["", "abc", "-1", "1.5", "other"])
def test_a_bad_or_foreign_after_is_400_naming_it(anna_client, anna, after):
    if after == "other":
        after = str(ContactFactory().pk)  # another operator's contact: nothing to learn from it
    response = anna_client.get(reverse("my_work_poll"), {"after": after} if after else {})
    assert response.status_code == 400
    assert list(json.loads(response.content)["errors"]) == ["after"]


@pytest.mark.parametrize("contacts", [2, 60])
def test_the_poll_runs_a_fixed_number_of_queries(anna_client, anna, django_assert_max_num_queries, contacts):
    anna.load_limit = 2
    anna.save()
    shown = ContactFactory(operator=anna, created_at=timezone.now() - timedelta(hours=1))
    for _ in range(contacts):
        ContactFactory(operator=anna)
    with django_assert_max_num_queries(POLL_QUERIES):
        answer = poll(anna_client, shown.pk)
    assert answer["count"] == min(contacts, 50)


# Presence buttons


def latest_change(operator: Operator):
    """The newest record of the operator's history, as the Changes page shows it."""
    return change_page(operator_id=operator.pk).object_list[0]


def test_presence_buttons_change_presence_in_the_history_as_the_user(anna_client, anna):
    response = anna_client.post(
        reverse("my_presence"), {"presence": "away", "reason": "lunch", "back_in": "30"}, follow=True
    )
    assert response.redirect_chain == [(reverse("my_work"), 302)]
    anna.refresh_from_db()
    assert (anna.presence, anna.presence_reason) == (Presence.AWAY, AwayReason.LUNCH)
    assert timedelta(minutes=29) < anna.presence_until - timezone.now() <= timedelta(minutes=30)
    with timezone.override(BERLIN):
        assert f"You are away (lunch) until {when(anna.presence_until)}." in response.text
    change = latest_change(anna)
    assert change.user == "anna"
    fields = {f.field: (f.old, f.new) for f in change.fields}
    assert fields["presence"] == ("available", "away")
    assert fields["away because of"] == ("", "lunch")

    anna_client.post(reverse("my_presence"), {"presence": "offline"})
    anna.refresh_from_db()
    assert (anna.presence, anna.presence_reason, anna.presence_until) == (Presence.OFFLINE, "", None)
    assert {f.field: (f.old, f.new) for f in latest_change(anna).fields}["presence"] == ("away", "offline")

    response = anna_client.post(reverse("my_presence"), {"presence": "available"}, follow=True)
    anna.refresh_from_db()
    assert anna.presence == Presence.AVAILABLE
    assert "You are available" in response.text
    assert latest_change(anna).user == "anna"


def test_back_at_a_time_of_the_operators_day(anna_client, anna):
    local_now = timezone.now().astimezone(ZoneInfo(BERLIN))
    at = (local_now + timedelta(minutes=2)).time().replace(second=0, microsecond=0)
    if at < local_now.time():
        pytest.skip("two minutes before midnight in Berlin: no later time today")
    data = {"presence": "away", "reason": "meeting", "back_at": f"{at:%H:%M}"}
    anna_client.post(reverse("my_presence"), data)
    anna.refresh_from_db()
    assert anna.presence_until == datetime.combine(local_now.date(), at, tzinfo=ZoneInfo(BERLIN))


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"presence": "sleeping"}, "Choose one of the presence buttons."),
        ({}, "Choose one of the presence buttons."),
        ({"presence": "away"}, "Say why you are away."),
        ({"presence": "away", "reason": "nap"}, "Choose one of the presence buttons."),
        ({"presence": "away", "reason": "break", "back_in": "45"}, "Choose one of the presence buttons."),
        ({"presence": "away", "reason": "break", "back_at": "25:00"}, "Choose one of the presence buttons."),
        (
            {"presence": "away", "reason": "break", "back_in": "15", "back_at": "23:59"},
            "in minutes or as a time, not both",
        ),
        # Midnight today has always passed: a return time must lie ahead (the service says so).
        ({"presence": "away", "reason": "break", "back_at": "00:00"}, "The return time must lie ahead."),
    ],
)
def test_a_refused_presence_is_a_message_and_changes_nothing(anna_client, anna, data, says):
    response = anna_client.post(reverse("my_presence"), data, follow=True)
    assert response.status_code == 200 and response.redirect_chain == [(reverse("my_work"), 302)]
    assert says in response.text and 'class="message error"' in response.text
    anna.refresh_from_db()
    assert anna.presence == Presence.AVAILABLE
    assert anna.history.count() == 1  # created, nothing since


def test_presence_is_a_post(anna_client):
    assert anna_client.get(reverse("my_presence")).status_code == 405


# Logging out


def test_logging_out_goes_offline_by_default_as_the_user(anna_client, anna):
    capacity.update_operator(
        operator=anna,
        presence=Presence.AWAY,
        presence_reason=AwayReason.BREAK,
        presence_until=timezone.now() + timedelta(minutes=15),
    )
    response = anna_client.post(reverse("logout"), {"go_offline": "1"}, follow=True)
    assert "You are logged out and offline" in response.text
    anna.refresh_from_db()
    # No return time left behind: the worker would make a logged-out operator available again.
    assert (anna.presence, anna.presence_reason, anna.presence_until) == (Presence.OFFLINE, "", None)
    change = latest_change(anna)
    assert change.user == "anna"
    assert {f.field: (f.old, f.new) for f in change.fields}["presence"] == ("away", "offline")
    assert anna_client.get(reverse("my_work")).status_code == 302  # logged out indeed


def test_logging_out_without_go_offline_leaves_presence_alone(anna_client, anna):
    response = anna_client.post(reverse("logout"), follow=True)
    assert '<li class="message info">You are logged out.</li>' in response.text
    anna.refresh_from_db()
    assert anna.presence == Presence.AVAILABLE and anna.history.count() == 1


def test_go_offline_from_an_account_without_an_operator_just_logs_out(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("sam", password=PASSWORD, is_staff=True))
    response = client.post(reverse("logout"), {"go_offline": "1"}, follow=True)
    assert '<li class="message info">You are logged out.</li>' in response.text


def test_an_offer_is_accepted_or_declined_and_a_contact_closed_from_my_work(anna_client, anna):
    from crm.models import Offer
    from crm.tests.factories import SourceFactory, WeightFactory
    from distribution.intake import store_contact

    source = SourceFactory(name="Phone", accept_within_seconds=120)
    WeightFactory(source=source, operator=anna)
    offered = store_contact(source=source, external_id="tg-1")
    page = anna_client.get(reverse("my_work")).text
    assert "Offered to you until" in page and reverse("my_contact", args=[offered.pk, "accept"]) in page
    done = anna_client.post(reverse("my_contact", args=[offered.pk, "accept"]), follow=True)
    assert "Accepted: the contact is yours." in done.text
    assert Offer.objects.get(contact=offered).outcome == "accepted"
    closed = anna_client.post(
        reverse("my_contact", args=[offered.pk, "close"]), {"outcome": "Called back"}, follow=True
    )
    assert "Closed." in closed.text and offered.pk not in contact_ids(closed.text)
    offered.refresh_from_db()
    assert (offered.state, offered.outcome) == (ContactState.CLOSED, "Called back")
    # Declined: it leaves her page (nobody else here: it waits).
    second = store_contact(source=source, external_id="tg-2")
    anna_client.post(reverse("my_contact", args=[second.pk, "decline"]))
    second.refresh_from_db()
    assert second.state == ContactState.WAITING and second.unassigned_reason == "nobody_accepted"
    # Someone else's contact, or one no longer offered: refused in words, nothing changes.
    other = ContactFactory(message="Boris's")
    refused = anna_client.post(reverse("my_contact", args=[other.pk, "accept"]), follow=True)
    assert "This offer has expired." in refused.text
    assert anna_client.post(reverse("my_contact", args=[second.pk, "close"]), follow=True).status_code == 200
    assert anna_client.get(reverse("my_contact", args=[second.pk, "close"])).status_code == 405
