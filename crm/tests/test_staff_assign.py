"""Hand assignment from the staff pages: only with the "can assign contacts" permission."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from crm.models import Contact
from crm.tests.factories import ContactFactory, OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("staff", password="x", is_staff=True)


@pytest.fixture
def supervisor(django_user_model):
    user = django_user_model.objects.create_user("sup", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="assign_contact"))
    return user


def waiting_contact(**operators):
    source = SourceFactory(name="Site form")
    for op in operators.values():
        WeightFactory(source=source, operator=op)
    return ContactFactory(source=source, operator=None)


@pytest.mark.parametrize("page", ["contact_list", "lead_detail"])
def test_staff_without_the_permission_see_no_buttons_and_get_403(client, staff, page):
    contact = waiting_contact(anna=OperatorFactory(name="Anna"))
    client.force_login(staff)
    url = reverse(page, args=[contact.lead_id]) if page == "lead_detail" else reverse(page)
    html = client.get(url).text
    assert reverse("contact_assign", args=[contact.pk]) not in html and "Route again" not in html
    response = client.post(reverse("contact_assign", args=[contact.pk]), {"route_again": "1"})
    assert response.status_code == 403 and "lacks the permission for this action" in response.text
    assert Contact.objects.get(pk=contact.pk).operator is None


@pytest.mark.parametrize("page", ["contact_list", "lead_detail"])
def test_supervisors_see_assign_and_route_again_buttons(client, supervisor, page):
    contact = waiting_contact(anna=OperatorFactory(name="Anna"))
    client.force_login(supervisor)
    url = reverse(page, args=[contact.lead_id]) if page == "lead_detail" else reverse(page)
    html = client.get(url).text
    assert f'action="{reverse("contact_assign", args=[contact.pk])}"' in html
    assert "Assign to this operator" in html and "Route again" in html


def test_the_endpoint_needs_a_login_and_a_post(client, supervisor):
    contact = ContactFactory(operator=None)
    url = reverse("contact_assign", args=[contact.pk])
    assert client.post(url, {"route_again": "1"}).status_code == 302  # to the login page
    client.force_login(supervisor)
    assert client.get(url).status_code == 405


def test_a_supervisor_assigns_a_waiting_contact_to_a_chosen_operator(client, supervisor):
    anna = OperatorFactory(name="Anna")
    contact = waiting_contact(anna=anna)
    client.force_login(supervisor)
    back = reverse("contact_list") + "?unassigned=1"
    response = client.post(reverse("contact_assign", args=[contact.pk]), {"operator": anna.pk, "next": back})
    assert response.status_code == 302 and response["Location"] == back
    contact.refresh_from_db()
    assert contact.operator == anna and contact.assigned_at is not None
    assert contact.explanation["path"] == "manual" and contact.explanation["by"] == "sup"
    page = client.get(back, follow=True).text
    assert "is now with Anna" in page


def test_a_full_operator_needs_a_confirmed_override_which_is_recorded(client, supervisor):
    full = OperatorFactory(name="Full", load_limit=0)
    contact = waiting_contact(full=full)
    client.force_login(supervisor)
    url = reverse("contact_assign", args=[contact.pk])
    asked = client.post(url, {"operator": full.pk})
    assert asked.status_code == 409 and "Assign to Full anyway" in asked.text
    assert Contact.objects.get(pk=contact.pk).operator is None
    client.post(url, {"operator": full.pk, "override": "1"})
    contact.refresh_from_db()
    assert contact.operator == full and contact.explanation["path"] == "manual_override"
    lead_page = client.get(reverse("lead_detail", args=[contact.lead_id])).text
    assert "assigned by a supervisor, overriding the limit or active flag" in lead_page.lower()


def test_route_again_moves_an_assigned_contact_to_another_operator(client, supervisor):
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    source = SourceFactory()
    WeightFactory(source=source, operator=anna)
    WeightFactory(source=source, operator=boris)
    contact = ContactFactory(source=source, operator=anna)
    client.force_login(supervisor)
    client.post(reverse("contact_assign", args=[contact.pk]), {"route_again": "1"})
    contact.refresh_from_db()
    assert contact.operator == boris and contact.explanation["path"] == "route_again"


def test_route_again_with_nobody_free_says_so_and_changes_nothing(client, supervisor):
    contact = waiting_contact(off=OperatorFactory(is_active=False))
    client.force_login(supervisor)
    page = client.post(reverse("contact_assign", args=[contact.pk]), {"route_again": "1"}, follow=True).text
    assert "Nobody else can take this contact now." in page
    assert Contact.objects.get(pk=contact.pk).operator is None


def test_assigning_without_choosing_an_operator_says_so(client, supervisor):
    contact = waiting_contact(anna=OperatorFactory())
    client.force_login(supervisor)
    page = client.post(reverse("contact_assign", args=[contact.pk]), {"operator": ""}, follow=True).text
    assert "Choose an operator, or route the contact again." in page
    assert Contact.objects.get(pk=contact.pk).operator is None


def test_a_foreign_next_url_is_ignored(client, supervisor):
    anna = OperatorFactory()
    contact = waiting_contact(anna=anna)
    client.force_login(supervisor)
    response = client.post(
        reverse("contact_assign", args=[contact.pk]), {"operator": anna.pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("lead_detail", args=[contact.lead_id])
