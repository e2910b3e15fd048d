"""Staff pages: access rules, what each page shows, filters, pagination, escaping and query counts."""

from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import selectors
from crm.models import UnassignedReason
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db

PAGES = ["dashboard", "lead_list", "lead_detail", "contact_list"]
PASSWORD = "correct horse battery staple"

# Queries per page, whatever the number of rows: 2 of them load the session and the user, 1 counts the
# waiting contacts for the header's "Queue (N)" (crm.context_processors: one count over the partial index
# of waiting contacts, run only where the staff header shows it), and 1 looks up the user's operator for
# the header's "My work" and "Go offline" (crm.context_processors.my_operator, by the unique user column).
# Sources: their operators, active ones, free slots and weights summed up per source, the waiting queue by
# source, the sources, and for sources nobody can take contacts from their operators and when the full
# ones free a slot. Operators: count and page (with load), when the page's full ones free a slot, their
# loads over the day. Shares: the page's operators' weights and window contacts, their sources' window
# contacts, their arrivals by hour. The workers' latest pass. Who answers, per source and per operator of the
# pages: contacts given, offers made, offers ended, times to accept, and contacts closed with their times to
# close (5 each). However many operators and sources there are.
DASHBOARD_QUERIES = 29  # 28, and the outbound deliveries failed lately (events.selectors)
# sources and operators for the filters, count of leads, the page, contacts count and last time for the
# page's leads, their latest contacts
LEAD_LIST_QUERIES = 10
# the lead, count of its contacts, the page of contacts with source and operator, their offers, the user's
# permissions (user and group) to decide on the assign buttons
LEAD_DETAIL_QUERIES = 10
# sources and operators for the filters, the user's permissions, count of contacts, the page, its sources
CONTACT_LIST_QUERIES = 11


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("staff", password=PASSWORD, is_staff=True)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def url_of(name: str) -> str:
    return reverse(name, args=[LeadFactory().pk]) if name == "lead_detail" else reverse(name)


def explanation_for(operator, *, weight: int = 1) -> dict:
    """What distribution.selection stores for a draw won by `operator` alone."""
    return {
        "candidates": [
            {
                "operator_id": operator.pk,
                "name": operator.name,
                "weight": weight,
                "load": 0,
                "limit": operator.load_limit,
                "active": True,
                "excluded": None,
                "p": 1.0,
            }
        ],
        "draws": [operator.pk],
        "chosen": operator.pk,
        "reason": "",
    }


# Access


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_users_are_sent_to_the_login_page_and_told_where_to_come_back(client, name):
    url = url_of(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={quote(url)}"


@pytest.mark.parametrize("name", PAGES)
def test_signed_in_users_who_are_not_staff_get_403(client, django_user_model, name):
    client.force_login(django_user_model.objects.create_user("clerk", password=PASSWORD))
    response = client.get(url_of(name))
    assert response.status_code == 403
    assert "not a staff account" in response.text


@pytest.mark.parametrize("name", PAGES)
def test_staff_users_see_every_page_with_the_navigation(staff_client, name):
    response = staff_client.get(url_of(name))
    assert response.status_code == 200
    page = response.text
    for target in [
        "dashboard",
        "lead_list",
        "contact_list",
        "queue",
        "trends",
        "change_list",
        "admin:index",
        "api-v1:openapi-view",
    ]:
        assert f'href="{reverse(target)}"' in page, target
    assert "staff" in page and f'action="{reverse("logout")}"' in page
    assert "/static/css/app.css" in page


def test_logging_in_brings_the_user_back_to_the_page_they_asked_for(client, staff_user):
    wanted = reverse("contact_list") + "?unassigned=1"
    login_page = client.get(reverse("login"), {"next": wanted})
    assert login_page.status_code == 200
    assert 'name="next" value="/contacts/?unassigned=1"' in login_page.text
    response = client.post(reverse("login"), {"username": "staff", "password": PASSWORD, "next": wanted})
    assert response.status_code == 302 and response["Location"] == wanted
    assert client.get(wanted).status_code == 200


def test_logging_in_without_next_opens_the_dashboard_and_a_wrong_password_says_so(client, staff_user):
    wrong = client.post(reverse("login"), {"username": "staff", "password": "nope"})
    assert wrong.status_code == 200 and "Please enter a correct username and password" in wrong.text
    response = client.post(reverse("login"), {"username": "staff", "password": PASSWORD})
    assert response["Location"] == reverse("dashboard")


def test_logout_is_a_post_that_ends_the_session_and_says_so(staff_client):
    assert staff_client.get(reverse("logout")).status_code == 405
    response = staff_client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    login_page = staff_client.get(response["Location"]).text
    assert '<li class="message info">You are logged out.</li>' in login_page
    assert "You are logged out." not in staff_client.get(reverse("login")).text  # said once
    assert staff_client.get(reverse("dashboard")).status_code == 302


def test_the_api_docs_link_back_to_the_staff_pages(client):
    page = client.get(reverse("api-v1:openapi-view")).text
    assert (
        f'<form method="get" action="{reverse("dashboard")}"><button type="submit">← Back to Leadflow' in page
    )
    assert "swagger-ui-bundle.js" in page  # still django-ninja's Swagger UI


# Dashboard


def test_dashboard_shows_each_operators_load_against_its_limit(staff_client):
    busy = OperatorFactory(name="Busy", load_limit=5)
    full = OperatorFactory(name="Full", load_limit=2)
    OperatorFactory(name="Off", is_active=False, load_limit=4)
    ContactFactory.create_batch(3, operator=busy)
    ContactFactory(operator=busy, created_at=timezone.now() - timedelta(hours=25))  # outside the window
    ContactFactory.create_batch(2, operator=full)

    response = staff_client.get(reverse("dashboard"))

    loads = {
        row.operator.name: (row.load, row.percent, row.is_full)
        for row in response.context["board"].operators.object_list
    }
    assert loads == {"Busy": (3, 60, False), "Full": (2, 100, True), "Off": (0, 0, False)}
    page = response.text
    assert "3 / 5" in page and 'style="width: 60%"' in page
    assert "2 / 2" in page and "full</span>" in page
    assert "0 / 4" in page and ">switched off<" in page


def test_dashboard_compares_each_sources_weight_share_with_its_actual_share(staff_client):
    source = SourceFactory(name="Telegram bot")
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    gone = OperatorFactory(name="Gone")  # got contacts, then was removed from the source
    WeightFactory(source=source, operator=anna, weight=1)
    WeightFactory(source=source, operator=boris, weight=3)
    ContactFactory.create_batch(2, source=source, operator=anna)
    ContactFactory.create_batch(1, source=source, operator=boris)
    ContactFactory(source=source, operator=gone)
    ContactFactory(source=source, operator=None)
    ContactFactory(
        source=source, operator=None, created_at=timezone.now() - timedelta(days=2)
    )  # still waiting
    ContactFactory(source=source, operator=boris, created_at=timezone.now() - timedelta(days=2))
    ContactFactory(operator=anna)  # another source

    response = staff_client.get(reverse("dashboard"))

    shares = {item.source.name: item for item in response.context["board"].shares}
    telegram = shares["Telegram bot"]
    assert (telegram.assigned, telegram.waiting.count, telegram.total_weight) == (4, 2, 4)
    rows = {r.operator.name: (r.weight, r.weight_share, r.contacts, r.actual_share) for r in telegram.rows}
    assert rows == {"Anna": (1, 25.0, 2, 50.0), "Boris": (3, 75.0, 1, 25.0), "Gone": (0, 0.0, 1, 25.0)}
    page = response.text
    assert "weight 25.0%" in page and "actual 50.0% (2)" in page and "weight 75.0%" in page
    assert "4 contacts assigned in the window" in page and "2 waiting" in page


def test_dashboard_shows_how_many_contacts_wait_unassigned_and_for_how_long(staff_client):
    now = timezone.now()
    ContactFactory(operator=None, created_at=now - timedelta(hours=30, minutes=5))
    ContactFactory(operator=None, created_at=now - timedelta(minutes=10))
    ContactFactory()

    response = staff_client.get(reverse("dashboard"))

    waiting = response.context["board"].waiting
    assert (waiting.count, waiting.too_old) == (2, 0)
    assert waiting.oldest == now - timedelta(hours=30, minutes=5)
    page = response.text
    assert f'<p class="big-number"><a href="{reverse("queue")}">2</a></p>' in page  # oldest first
    assert "1\xa0day, 6\xa0hours" in page


def test_an_operator_created_while_the_dashboard_loads_is_left_out_until_the_next_load():
    contact = ContactFactory()
    WeightFactory(source=contact.source, operator=contact.operator)
    [overview] = selectors.source_overviews(now=timezone.now(), loads={})  # read before the operator existed
    assert (overview.assigned, overview.rows, overview.operators) == (0, [], [])


def test_dashboard_without_any_data_renders(staff_client):
    page = staff_client.get(reverse("dashboard")).text
    assert "Every contact has an operator." in page
    assert "No operators yet." in page and "No sources yet." in page
    assert "nobody can take contacts" not in page


# Leads


def test_lead_list_is_newest_first_with_contacts_count_and_last_contact_time(staff_client):
    now = timezone.now()
    old = LeadFactory(external_id="old-lead", created_at=now - timedelta(days=3))
    new = LeadFactory(external_id="new-lead", name="Ivan", created_at=now - timedelta(days=1))
    ContactFactory(lead=old, created_at=now - timedelta(days=3))
    last = ContactFactory(lead=old, created_at=now - timedelta(hours=2))

    response = staff_client.get(reverse("lead_list"))

    rows = [(r.lead, r.contacts, r.last_contact_at) for r in response.context["page_obj"]]
    assert rows == [(new, 0, None), (old, 2, last.created_at)]
    page = response.text
    assert page.index("new-lead") < page.index("old-lead")
    assert f'href="{reverse("lead_detail", args=[old.pk])}"' in page
    assert last.created_at.strftime("%Y-%m-%d %H:%M") in page


def test_lead_search_matches_external_id_and_name(staff_client):
    LeadFactory(external_id="tg-1001", name="Ivan Petrov")
    LeadFactory(external_id="site-2002", name="Maria")
    LeadFactory(external_id="tg-3003", name="Oleg")

    def found(q: str) -> set[str]:
        page = staff_client.get(reverse("lead_list"), {"q": q}).context["page_obj"]
        return {row.lead.external_id for row in page}

    assert found("TG-") == {"tg-1001", "tg-3003"}
    assert found("petrov") == {"tg-1001"}
    assert found("  maria ") == {"site-2002"}
    response = staff_client.get(reverse("lead_list"), {"q": "nobody"})
    assert "No lead matches “nobody”." in response.text


def test_lead_list_has_50_per_page_and_keeps_the_search_in_page_links(staff_client):
    LeadFactory.create_batch(60, name="Same")
    first = staff_client.get(reverse("lead_list"), {"q": "same"})
    assert len(first.context["page_obj"].object_list) == 50
    assert "1–50 of 60 leads" in first.text and "Page 1 of 2" in first.text
    assert 'href="?q=same&amp;page=2"' in first.text
    second = staff_client.get(reverse("lead_list"), {"q": "same", "page": 2})
    assert len(second.context["page_obj"].object_list) == 10 and "51–60 of 60 leads" in second.text
    # Beyond the end shows the last page; a page that is not a number shows the first.
    assert staff_client.get(reverse("lead_list"), {"page": 99}).context["page_obj"].number == 2
    assert staff_client.get(reverse("lead_list"), {"page": "x"}).context["page_obj"].number == 1


@pytest.mark.parametrize("leads", [5, 60])
def test_lead_list_runs_a_fixed_number_of_queries(staff_client, django_assert_max_num_queries, leads):
    for lead in LeadFactory.create_batch(leads):
        ContactFactory.create_batch(2, lead=lead)
    with django_assert_max_num_queries(LEAD_LIST_QUERIES) as captured:
        response = staff_client.get(reverse("lead_list"))
    assert response.status_code == 200
    # Counting scans the leads table alone; per-row numbers are computed for the page's leads only.
    count_sql = next(q["sql"] for q in captured.captured_queries if "COUNT(*)" in q["sql"].upper())
    assert "JOIN" not in count_sql.upper()


# Lead detail


def test_lead_detail_shows_the_contacts_as_a_timeline_with_why_each_operator_was_chosen(staff_client):
    lead = LeadFactory(external_id="tg-42", name="Ivan")
    anna = OperatorFactory(name="Anna")
    source = SourceFactory(name="Site form")
    now = timezone.now()
    ContactFactory(
        lead=lead,
        source=source,
        operator=anna,
        message="Hello\nthere",
        explanation=explanation_for(anna),
        created_at=now - timedelta(hours=1),
    )
    ContactFactory(
        lead=lead,
        source=source,
        operator=None,
        unassigned_reason=UnassignedReason.ALL_INACTIVE,
        explanation={"candidates": [], "draws": [], "chosen": None, "reason": "all_inactive"},
        created_at=now,
    )
    ContactFactory(message="someone else's")

    response = staff_client.get(reverse("lead_detail", args=[lead.pk]))

    assert response.status_code == 200
    page = response.text
    assert "tg-42" in page and "Ivan" in page and "someone else" not in page
    assert "Site form" in page and "Hello<br>there" in page
    assert "Anna got it: the only operator who could take it." in page
    assert "Why this operator" in page and "Exact numbers" in page
    assert "waiting" in page and "every operator of the source is inactive" in page
    assert f'href="{reverse("contact_list")}?operator={anna.pk}">Anna</a>' in page
    assert f'href="{reverse("contact_list")}?source={source.pk}">Site form</a>' in page
    assert "Why nobody took it" in page
    # Newest first.
    assert page.index("every operator of the source is inactive") < page.index("Hello<br>there")
    assert f'href="{reverse("admin:crm_lead_change", args=[lead.pk])}"' in page


def test_unknown_lead_is_404(staff_client):
    assert staff_client.get(reverse("lead_detail", args=[987654])).status_code == 404
    assert staff_client.get("/leads/99999999999999999999999/").status_code == 404


def test_lead_timeline_is_paginated(staff_client):
    lead = LeadFactory()
    ContactFactory.create_batch(55, lead=lead)
    response = staff_client.get(reverse("lead_detail", args=[lead.pk]), {"page": 2})
    assert len(response.context["page_obj"].object_list) == 5 and "51–55 of 55 contacts" in response.text


@pytest.mark.parametrize("contacts", [5, 60])
def test_lead_detail_runs_a_fixed_number_of_queries(staff_client, django_assert_max_num_queries, contacts):
    lead = LeadFactory()
    for i in range(contacts):
        operator = OperatorFactory() if i % 2 else None
        why = explanation_for(operator) if operator else {}
        ContactFactory(lead=lead, operator=operator, explanation=why)
    with django_assert_max_num_queries(LEAD_DETAIL_QUERIES):
        assert staff_client.get(reverse("lead_detail", args=[lead.pk])).status_code == 200


def test_external_ids_and_messages_from_the_internet_are_escaped(staff_client):
    evil = "<script>alert(1)</script>"
    operator = OperatorFactory(name="<b>Op</b>")
    contact = ContactFactory(
        lead=LeadFactory(external_id=evil, name=evil),
        message=evil,
        operator=operator,
        explanation=explanation_for(operator),
    )
    lead_url = reverse("lead_detail", args=[contact.lead_id])
    for url in [reverse("lead_list"), lead_url, reverse("contact_list")]:
        page = staff_client.get(url).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url
        assert "<script" not in page, url
        assert "<b>Op</b>" not in page, url


# Contacts


def test_contact_list_rows_show_time_lead_source_and_operator_or_why_unassigned(staff_client):
    now = timezone.now()
    taken = ContactFactory(
        lead=LeadFactory(external_id="tg-1"),
        source=SourceFactory(name="Bot"),
        operator=OperatorFactory(name="Anna"),
        created_at=now - timedelta(minutes=5),
    )
    ContactFactory(
        lead=LeadFactory(external_id="tg-2"),
        operator=None,
        unassigned_reason=UnassignedReason.NO_OPERATORS,
        created_at=now,
    )

    response = staff_client.get(reverse("contact_list"))

    page = response.text
    assert [c.lead.external_id for c in response.context["page_obj"]] == ["tg-2", "tg-1"]
    assert taken.created_at.strftime("%Y-%m-%d %H:%M") in page
    assert f'<a href="{reverse("lead_detail", args=[taken.lead_id])}">tg-1</a>' in page
    assert "Bot" in page and "Anna" in page
    assert "no operators configured for the source" in page


def contact_ids(client, **params) -> set[int]:
    response = client.get(reverse("contact_list"), params)
    assert response.status_code == 200
    return {c.pk for c in response.context["page_obj"]}


def test_contact_list_filters_by_source_operator_and_unassigned(staff_client):
    bot, form = SourceFactory(), SourceFactory()
    anna = OperatorFactory()
    a = ContactFactory(source=bot, operator=anna)
    b = ContactFactory(source=form, operator=anna)
    c = ContactFactory(source=bot, operator=None)
    d = ContactFactory(source=form)

    assert contact_ids(staff_client) == {a.pk, b.pk, c.pk, d.pk}
    assert contact_ids(staff_client, source=bot.pk) == {a.pk, c.pk}
    assert contact_ids(staff_client, operator=anna.pk) == {a.pk, b.pk}
    assert contact_ids(staff_client, unassigned=1) == {c.pk}
    assert contact_ids(staff_client, source=form.pk, operator=anna.pk) == {b.pk}
    page = staff_client.get(reverse("contact_list"), {"source": bot.pk, "unassigned": 1}).text
    assert f'<option value="{bot.pk}" selected>' in page
    assert 'type="checkbox" name="unassigned" value="1"' in page and " checked>" in page


def test_contact_list_filters_by_an_inclusive_date_range(staff_client, settings):
    settings.TIME_ZONE = "Europe/Berlin"  # days are the staff's local days
    berlin = timezone.get_current_timezone()

    def at(day: int, hour: int, minute: int = 0):
        return ContactFactory(created_at=datetime(2024, 6, day, hour, minute, tzinfo=berlin))

    before, first, last, after = at(1, 23, 59), at(2, 0, 0), at(3, 23, 59), at(4, 0, 0)
    assert contact_ids(staff_client, **{"from": "2024-06-02", "to": "2024-06-03"}) == {first.pk, last.pk}
    assert contact_ids(staff_client, **{"from": "2024-06-03"}) == {last.pk, after.pk}
    assert contact_ids(staff_client, to="2024-06-01") == {before.pk}
    assert contact_ids(staff_client, **{"from": "2024-06-02", "to": "2024-06-02"}) == {first.pk}


@pytest.mark.parametrize(
    "params, message",
    [
        ({"from": "2024-13-01"}, "From: Enter a date such as 2026-12-31."),
        ({"to": "yesterday"}, "To (inclusive): Enter a date such as 2026-12-31."),
        ({"from": "06/02/2024"}, "From: Enter a date such as 2026-12-31."),
        ({"from": "02.06.2024"}, "From: Enter a date such as 2026-12-31."),  # Russian order, English page
        ({"to": "9999-12-31"}, "To (inclusive): Enter a date between 0001-01-02 and 9999-12-30."),
        ({"from": "2024-06-03", "to": "2024-06-02"}, "The “to” date is before the “from” date."),
        ({"source": "abc"}, "Select a valid choice."),
        ({"operator": "999999"}, "Select a valid choice."),
    ],
)
def test_invalid_filters_give_a_clear_message_not_an_error(staff_client, params, message):
    ContactFactory()
    response = staff_client.get(reverse("contact_list"), params)
    assert response.status_code == 200
    assert "The filters could not be applied" in response.text
    assert message in response.text.replace("&#x27;", "'")
    assert response.context["page_obj"] is None


def test_contact_list_has_50_per_page_and_keeps_the_filters_in_page_links(staff_client):
    source = SourceFactory()
    ContactFactory.create_batch(60, source=source, operator=None)
    ContactFactory.create_batch(3)
    first = staff_client.get(reverse("contact_list"), {"source": source.pk, "unassigned": 1})
    assert len(first.context["page_obj"].object_list) == 50 and "1–50 of 60 contacts" in first.text
    assert f'href="?source={source.pk}&amp;unassigned=1&amp;page=2"' in first.text
    second = staff_client.get(reverse("contact_list"), {"source": source.pk, "unassigned": 1, "page": 2})
    assert len(second.context["page_obj"].object_list) == 10
    beyond = staff_client.get(reverse("contact_list"), {"page": 7})
    assert beyond.context["page_obj"].number == 2 and "51–63 of 63 contacts" in beyond.text


@pytest.mark.parametrize("contacts", [5, 60])
def test_contact_list_runs_a_fixed_number_of_queries(staff_client, django_assert_max_num_queries, contacts):
    sources = SourceFactory.create_batch(3)
    for i in range(contacts):
        ContactFactory(source=sources[i % 3], operator=None if i % 4 == 0 else OperatorFactory())
    params = {"source": sources[0].pk, "from": "2000-01-01", "to": "2999-12-31"}
    with django_assert_max_num_queries(CONTACT_LIST_QUERIES) as captured:
        response = staff_client.get(reverse("contact_list"), params)
    assert response.status_code == 200
    count_sql = next(q["sql"] for q in captured.captured_queries if "COUNT(*)" in q["sql"].upper())
    assert "JOIN" not in count_sql.upper()  # the count stays on the contacts table


@pytest.mark.parametrize("operators", [5, 120])
def test_dashboard_runs_the_same_queries_however_many_operators(
    staff_client, django_assert_num_queries, operators
):
    sources = SourceFactory.create_batch(3)
    # A source nobody can take contacts from (one full, one switched off): its alert names them.
    blocked, full = SourceFactory(name="Full up"), OperatorFactory(load_limit=1)
    WeightFactory(source=blocked, operator=full)
    WeightFactory(source=blocked, operator=OperatorFactory(is_active=False))
    ContactFactory(source=blocked, operator=full)
    for i in range(operators):
        operator = OperatorFactory(is_active=bool(i % 5), load_limit=1 if i % 7 == 0 else 10)
        WeightFactory(source=sources[i % 3], operator=operator, weight=1 + i % 4)
        ContactFactory(source=sources[i % 3], operator=operator)
        ContactFactory(source=sources[i % 3], operator=None)
    with django_assert_num_queries(DASHBOARD_QUERIES):
        response = staff_client.get(reverse("dashboard"))
    board = response.context["board"]
    assert board.operators.paginator.count == operators + 2
    assert len(board.operators.object_list) == min(operators + 2, selectors.OPERATORS_PER_PAGE)
    assert [s.source.name for s in board.blocked] == ["Full up"]
