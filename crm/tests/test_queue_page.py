"""The queue page: waiting contacts oldest first with their age, bulk actions, and the header's count."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.choices import UnassignedReason
from crm.models import Contact
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", password="x", is_staff=True)


@pytest.fixture
def supervisor(django_user_model):
    user = django_user_model.objects.create_user("sup", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="assign_contact"))
    return user


def waiting(source, *, ago: timedelta, external_id: str, **fields) -> Contact:
    return ContactFactory(
        source=source,
        operator=None,
        lead=LeadFactory(external_id=external_id),
        created_at=timezone.now() - ago,
        **fields,
    )


def test_the_queue_lists_waiting_contacts_oldest_first_with_their_age_and_reason(client, staff):
    source = SourceFactory(name="Site form")
    waiting(source, ago=timedelta(minutes=10), external_id="newest")
    waiting(source, ago=timedelta(days=3, hours=4, minutes=1), external_id="oldest")
    waiting(
        source,
        ago=timedelta(hours=2, minutes=5, seconds=30),
        external_id="middle",
        unassigned_reason=UnassignedReason.ALL_INACTIVE,
    )
    ContactFactory(source=source, lead=LeadFactory(external_id="has-an-operator"))
    client.force_login(staff)

    page = client.get(reverse("queue")).text

    rows = page.split("<tbody>")[1].split("</tbody>")[0]
    assert re.findall(r">(newest|oldest|middle|has-an-operator)</a>", rows) == ["oldest", "middle", "newest"]
    ages = re.findall(r'class="age"[^>]*>([^<]*)<', rows)
    assert ages == ["waiting 3 d 4 h", "waiting 2 h 5 min", "waiting 10 min"]
    assert "every operator of the source is inactive" in rows and "all_inactive" not in rows
    assert "1–3 of 3 contacts" in page
    assert 'type="checkbox"' not in rows and "Route again" not in page  # no permission, no bulk actions


def test_every_staff_page_has_the_queue_in_the_menu_with_its_count(client, staff):
    for i in range(3):
        waiting(SourceFactory(), ago=timedelta(minutes=i), external_id=f"w{i}")
    ContactFactory()
    client.force_login(staff)
    for name in ["dashboard", "lead_list", "contact_list", "change_list", "trends", "queue"]:
        page = client.get(reverse(name)).text
        assert f'<a href="{reverse("queue")}"' in page and "Queue (3)</a>" in page, name


def test_the_menus_count_is_one_query_and_only_where_the_header_shows_it(client, staff, admin_client):
    waiting(SourceFactory(), ago=timedelta(minutes=1), external_id="w")
    client.force_login(staff)

    def counts_of_waiting(c, url: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert c.get(url).status_code == 200
        return sum(
            1
            for q in queries.captured_queries
            if "COUNT(*)" in q["sql"].upper()
            and '"operator_id" IS NULL' in q["sql"]
            and "crm_contact" in q["sql"]
        )

    assert counts_of_waiting(client, reverse("lead_list")) == 1
    assert counts_of_waiting(client, reverse("queue")) == 1  # the page's own count serves the header too
    assert counts_of_waiting(admin_client, reverse("admin:index")) == 0  # the admin has its own header


@pytest.mark.parametrize("contacts", [5, 60])
def test_the_queue_page_runs_a_fixed_number_of_queries(
    client, supervisor, django_assert_max_num_queries, contacts
):
    sources = SourceFactory.create_batch(3)
    for source in sources:
        WeightFactory(source=source, operator=OperatorFactory())
    for i in range(contacts):
        waiting(sources[i % 3], ago=timedelta(minutes=i), external_id=f"w{i}")
    client.force_login(supervisor)
    # session, user, the user's operator (the menu's My work), user's permissions (two), count, page, its
    # sources, the menu's operators and weights
    with django_assert_max_num_queries(10):
        page = client.get(reverse("queue")).text
    assert page.count('name="contact"') == min(contacts, 50)


def test_route_again_in_bulk_takes_the_ticked_contacts_oldest_first(client, supervisor):
    anna = OperatorFactory(name="Anna", load_limit=1)  # room for one
    source = SourceFactory(name="Site form")
    WeightFactory(source=source, operator=anna)
    newer = waiting(source, ago=timedelta(minutes=5), external_id="newer")
    older = waiting(source, ago=timedelta(hours=1), external_id="older")
    untouched = waiting(source, ago=timedelta(hours=2), external_id="not-ticked")
    client.force_login(supervisor)
    page = client.post(
        reverse("queue_assign"), {"action": "route_again", "contact": [newer.pk, older.pk]}, follow=True
    ).text
    assert (
        "1 contact routed again." in page
        and "1 contact stays as it was: nobody else can take it now." in page
    )
    assert Contact.objects.get(pk=older.pk).operator == anna  # the older one first, as the router goes
    assert Contact.objects.get(pk=older.pk).explanation["path"] == "route_again"
    assert Contact.objects.get(pk=newer.pk).operator is None
    assert Contact.objects.get(pk=untouched.pk).operator is None


def test_assign_to_in_bulk_respects_the_limit_unless_overridden_and_warns_outside_the_source(
    client, supervisor
):
    boris = OperatorFactory(name="Boris", load_limit=1)  # not one of the source's operators
    source = SourceFactory(name="Site form")
    WeightFactory(source=source, operator=OperatorFactory(name="Anna", load_limit=0))
    first, second = (waiting(source, ago=timedelta(minutes=m), external_id=f"c{m}") for m in (9, 8))
    client.force_login(supervisor)
    url = reverse("queue_assign")
    ticked = {"action": "assign", "operator": boris.pk, "contact": [first.pk, second.pk]}
    page = client.post(url, ticked, follow=True).text
    assert "1 contact assigned to Boris." in page and "1 not assigned: Boris is at the load limit" in page
    assert "1 contact went to Boris outside its source" in page
    assert Contact.objects.get(pk=first.pk).operator == boris
    assert Contact.objects.get(pk=first.pk).explanation["outside_source"] is True

    page = client.post(url, {**ticked, "override": "1"}, follow=True).text
    assert "1 contact assigned to Boris." in page
    assert "1 contact had an operator already and was left as it is." in page
    assert Contact.objects.get(pk=second.pk).explanation["path"] == "manual_override"


def test_all_on_the_page_and_the_forms_errors(client, supervisor):
    anna = OperatorFactory(name="Anna")
    source = SourceFactory()
    WeightFactory(source=source, operator=anna)
    contacts = [waiting(source, ago=timedelta(minutes=m), external_id=f"c{m}") for m in (1, 2)]
    client.force_login(supervisor)
    url = reverse("queue_assign")
    assert "Tick the contacts first." in client.post(url, {"action": "route_again"}, follow=True).text
    no_operator = client.post(url, {"action": "assign", "contact": [contacts[0].pk]}, follow=True).text
    assert "Choose an operator to assign the contacts to." in no_operator
    on_page = {
        "action": "assign",
        "operator": anna.pk,
        "all_on_page": "1",
        "on_page": [c.pk for c in contacts],
    }
    assert "2 contacts assigned to Anna." in client.post(url, on_page, follow=True).text
    assert not Contact.objects.unassigned().exists()


def test_bulk_actions_need_the_permission(client, staff):
    contact = waiting(SourceFactory(), ago=timedelta(minutes=1), external_id="w")
    client.force_login(staff)
    response = client.post(reverse("queue_assign"), {"action": "route_again", "contact": [contact.pk]})
    assert response.status_code == 403
    assert client.get(reverse("queue_assign")).status_code == 405
