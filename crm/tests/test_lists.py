"""Lead and contact lists: latest contact per lead, filters, both times, the path in plain words."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm import selectors
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory
from distribution.selection import Candidate, decide

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("staff", password="x", is_staff=True))
    return client


def test_each_lead_shows_its_latest_contact_source_and_operator_or_waiting(staff_client):
    now = timezone.now()
    bot, form = SourceFactory(name="Bot"), SourceFactory(name="Form")
    anna = OperatorFactory(name="Anna")
    handled, waiting = LeadFactory(external_id="handled"), LeadFactory(external_id="waiting")
    ContactFactory(lead=handled, source=form, operator=None, created_at=now - timedelta(days=1))
    ContactFactory(lead=handled, source=bot, operator=anna, created_at=now - timedelta(hours=1))
    ContactFactory(lead=waiting, source=form, operator=anna, created_at=now - timedelta(days=1))
    ContactFactory(lead=waiting, source=form, operator=None, created_at=now)

    response = staff_client.get(reverse("lead_list"))

    rows = {row.lead.external_id: row.latest for row in response.context["page_obj"]}
    assert (rows["handled"].source, rows["handled"].operator) == (bot, anna)
    assert (rows["waiting"].source, rows["waiting"].operator) == (form, None)
    page = response.text
    assert f'href="{reverse("contact_list")}?operator={anna.pk}">Anna</a>' in page
    assert f'href="{reverse("contact_list")}?source={bot.pk}">Bot</a>' in page
    assert ">waiting</span>" in page
    assert 'data-label="Latest contact"' in page  # stacked rows on phones


def test_leads_filter_by_source_operator_and_waiting(staff_client):
    bot, form = SourceFactory(), SourceFactory()
    anna = OperatorFactory()
    a = ContactFactory(source=bot, operator=anna).lead
    b = ContactFactory(source=form, operator=None).lead
    c = ContactFactory(source=form, operator=OperatorFactory()).lead

    def found(**params) -> set[int]:
        response = staff_client.get(reverse("lead_list"), params)
        assert response.status_code == 200
        return {row.lead.pk for row in response.context["page_obj"]}

    assert found(source=bot.pk) == {a.pk}
    assert found(source=form.pk) == {b.pk, c.pk}
    assert found(operator=anna.pk) == {a.pk}
    assert found(waiting=1) == {b.pk}
    assert found(source=form.pk, waiting=1, q="lead") == {b.pk}
    bad = staff_client.get(reverse("lead_list"), {"source": "x"})
    assert "The filters could not be applied" in bad.text


@pytest.mark.parametrize("leads", [5, 60])
def test_filtered_lead_list_runs_a_fixed_number_of_queries(
    staff_client, django_assert_max_num_queries, leads
):
    source = SourceFactory()
    for lead in LeadFactory.create_batch(leads):
        ContactFactory.create_batch(2, lead=lead, source=source)
    # the lead list's 8, and the header's queue count and the user's operator (its My work)
    with django_assert_max_num_queries(10):
        response = staff_client.get(reverse("lead_list"), {"source": source.pk, "q": "lead"})
    assert response.status_code == 200


def test_contacts_show_arrival_and_assignment_times_when_they_differ_and_how(staff_client):
    now = timezone.now()
    late = ContactFactory(
        created_at=now - timedelta(hours=5),
        assigned_at=now - timedelta(hours=1),
        explanation={
            "candidates": [],
            "draws": [],
            "chosen": None,
            "reason": "",
            "path": "drain",
            "by": "drain",
        },
    )
    ContactFactory(created_at=now - timedelta(hours=2))
    page = staff_client.get(reverse("contact_list")).text
    assert page.count("assigned-at") == 1
    assert late.assigned_at.strftime("%Y-%m-%d %H:%M UTC") in page
    assert "routed from the waiting queue" in page


def test_date_filters_are_typed_in_the_languages_order_and_take_iso_dates_too(staff_client, settings):
    # A browser's <input type="date"> shows the browser's order whatever the page's language: text boxes
    # with the language's order as the example instead.
    old = ContactFactory(created_at=timezone.now() - timedelta(days=400))
    day = timezone.localdate(old.created_at)
    english = staff_client.get(reverse("contact_list"), {"from": day.isoformat(), "to": day.isoformat()})
    assert [c.pk for c in english.context["page_obj"]] == [old.pk]
    assert 'type="text" name="from"' in english.text and 'placeholder="2026-12-31"' in english.text

    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    typed = day.strftime("%d.%m.%Y")
    for value in (typed, day.isoformat()):  # the Russian order, and ISO (what links carry)
        russian = staff_client.get(reverse("contact_list"), {"from": value, "to": value})
        assert [c.pk for c in russian.context["page_obj"]] == [old.pk], value
    assert 'placeholder="31.12.2026"' in russian.text
    wrong = staff_client.get(reverse("contact_list"), {"from": "12/31/2026"})
    assert wrong.context["page_obj"] is None and "31.12.2026" in wrong.text and "2026-12-31" in wrong.text


def test_a_filtered_lead_list_counts_only_up_to_a_cap(staff_client, monkeypatch):
    monkeypatch.setattr(selectors.CappedPaginator, "COUNT_CAP", 3)
    source = SourceFactory()
    for lead in LeadFactory.create_batch(5):
        ContactFactory(lead=lead, source=source)
    response = staff_client.get(reverse("lead_list"), {"source": source.pk})
    assert "1–3 of more than 3 leads" in response.text
    assert "1–5 of 5 leads" in staff_client.get(reverse("lead_list")).text  # unfiltered: exact


@pytest.mark.parametrize("contacts, operators", [(5, 5), (60, 5), (60, 150)])
def test_supervisors_contact_list_with_assign_buttons_runs_a_fixed_number_of_queries(
    client, django_user_model, django_assert_max_num_queries, contacts, operators
):
    client.force_login(django_user_model.objects.create_superuser("boss", password="x"))
    OperatorFactory.create_batch(operators)
    ContactFactory.create_batch(contacts, operator=None)
    # The staff list's 7, the header's queue count and the user's operator (its My work), plus the assign
    # menus': the operators with their load and who works the page's sources; with more operators than a
    # menu per row lists (150), the sources' own operators apart.
    with django_assert_max_num_queries(11 if operators <= selectors.INLINE_OTHERS_MAX else 12):
        page = client.get(reverse("contact_list")).text
    assert page.count("Route again") == min(contacts, 50)


def test_a_search_and_a_filtered_contact_list_count_only_up_to_a_cap(staff_client, monkeypatch):
    # A broad search or a busy source's contacts are most of the table at a million contacts: their
    # counts stop at the cap, like the lead filters'.
    monkeypatch.setattr(selectors.CappedPaginator, "COUNT_CAP", 3)
    source = SourceFactory()
    for lead in LeadFactory.create_batch(5, name="Alice Archer"):
        ContactFactory(lead=lead, source=source)
    assert "1–3 of more than 3 leads" in staff_client.get(reverse("lead_list"), {"q": "archer"}).text
    contacts = reverse("contact_list")
    assert "1–3 of more than 3 contacts" in staff_client.get(contacts, {"source": source.pk}).text
    assert "1–5 of 5 contacts" in staff_client.get(contacts).text  # unfiltered: exact


def test_a_lead_search_sorts_in_the_order_the_trigram_index_can_serve(staff_client, admin_client):
    # Plain "created_at DESC" tempts PostgreSQL to walk the newest-first index through most leads when
    # the matches are few or old; the staff list and the admin's search both sort NULLS LAST instead.
    older, newer = LeadFactory(name="Archer one"), LeadFactory(name="Archer two")
    for client, url in [
        (staff_client, reverse("lead_list")),
        (admin_client, reverse("admin:crm_lead_changelist")),
    ]:
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url, {"q": "archer"}).text
        assert page.index(newer.external_id) < page.index(older.external_id)
        ordered = [
            q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"] and "crm_lead" in q["sql"]
        ]
        assert any("NULLS LAST" in sql for sql in ordered), ordered


@pytest.mark.parametrize(
    "path, by, words",
    [
        ("draw", "webhook", "weighted draw on arrival"),
        ("sticky", "webhook", "returning lead, back to the same operator · on arrival"),
        ("capacity_change", "capacity_change", "routed from the queue as soon as capacity appeared"),
        ("drain", "drain", "routed from the waiting queue"),
        ("manual", "admin", "assigned by a supervisor · by admin"),
        (
            "route_again",
            "api:provisioning",
            "routed again by a supervisor · through the API key provisioning",
        ),
    ],
)
def test_who_assigned_a_contact_reads_in_words_not_as_a_code(staff_client, path, by, words):
    operator = OperatorFactory(name="Anna")
    seen = [Candidate(operator.pk, 1, operator.load_limit, load=0, name=operator.name)]
    why = {**decide(seen, draws=[operator.pk], chosen=seen[0]).explanation, "path": path, "by": by}
    contact = ContactFactory(operator=operator, explanation=why)
    row = staff_client.get(reverse("contact_list")).text.split("<tbody>")[1]
    how = row.split('data-label="How">')[1].split("</td>")[0]
    assert text_of(how) == words
    lead = staff_client.get(reverse("lead_detail", args=[contact.lead_id])).text
    path_line = text_of(lead.split('class="explanation-path">')[1].split("</p>")[0])
    assert path_line == words[0].upper() + words[1:]  # the same words, capitalised (no `at` stored here)
    for code in ("webhook", "capacity_change", "api:", "(admin)", "by webhook"):
        assert code not in text_of(row) and code not in path_line, code


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", html).split())
