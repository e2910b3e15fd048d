"""Hand assignment from the staff pages: only with the "can assign contacts" permission."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from crm import selectors
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


def test_the_endpoint_needs_a_login_and_a_get_is_the_contacts_assign_page(client, supervisor, staff):
    contact = ContactFactory(operator=None, source=SourceFactory(name="Site form"))
    url = reverse("contact_assign", args=[contact.pk])
    assert client.post(url, {"route_again": "1"}).status_code == 302  # to the login page
    assert client.get(url).status_code == 302
    client.force_login(staff)
    assert client.get(url).status_code == 403  # staff without the permission
    client.force_login(supervisor)
    page = client.get(url)  # was a blank 405
    assert page.status_code == 200 and "Assign a contact" in page.text
    assert f'action="{url}"' in page.text and "Route again" in page.text and 'name="override"' in page.text
    assert contact.lead.external_id in page.text and "Site form" in page.text
    assert client.delete(url).status_code == 405


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


def options_of(html: str, select_id: str) -> list[tuple[str, list[str]]]:
    """The (group label, option texts) of a <select>, in order."""
    select = html.split(f'id="{select_id}"')[1].split("</select>")[0]
    return [
        (label, re.findall(r'<option value="\d+">([^<]*)</option>', body))
        for label, body in re.findall(r'<optgroup label="([^"]*)">(.*?)</optgroup>', select, re.S)
    ]


def test_the_menu_shows_load_against_limit_and_puts_the_sources_operators_first(client, supervisor):
    anna, vera = OperatorFactory(name="Anna", load_limit=20), OperatorFactory(name="Vera", load_limit=1)
    off = OperatorFactory(name="Gleb", is_active=False)
    boris = OperatorFactory(name="Boris")  # works another source only
    contact = waiting_contact(anna=anna, vera=vera, off=off)
    ContactFactory.create_batch(3, operator=anna)
    ContactFactory(operator=vera)
    ContactFactory.create_batch(2, operator=boris)
    client.force_login(supervisor)
    expected = [
        ("Operators of Site form", ["Anna — 3 / 20", "Gleb — 0 / 10 · switched off", "Vera — 1 / 1 · full"]),
        ("Other operators", ["Boris — 2 / 10"]),
    ]
    for url in [reverse("contact_list"), reverse("contact_assign", args=[contact.pk])]:
        html = client.get(url).text.replace("&#x27;", "'")
        select_id = f"assign-{contact.pk}" if url == reverse("contact_list") else "assign-operator"
        assert options_of(html, select_id) == expected, url


def test_assigning_outside_the_source_warns_and_is_recorded(client, supervisor):
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    contact = waiting_contact(anna=anna)
    inside = ContactFactory(source=contact.source, operator=None)
    client.force_login(supervisor)
    page = client.post(reverse("contact_assign", args=[contact.pk]), {"operator": boris.pk}, follow=True).text
    assert "is now with Boris" in page
    assert "Boris is not one of the operators of Site form" in page and 'class="message warning"' in page
    contact.refresh_from_db()
    assert contact.operator == boris and contact.explanation["outside_source"] is True
    lead = client.get(reverse("lead_detail", args=[contact.lead_id])).text
    assert "Boris was chosen by hand from outside the source&#x27;s operators." in lead

    page = client.post(reverse("contact_assign", args=[inside.pk]), {"operator": anna.pk}, follow=True).text
    assert "is now with Anna" in page and "not one of the operators" not in page
    inside.refresh_from_db()
    assert "outside_source" not in inside.explanation


def test_with_many_operators_a_rows_menu_leaves_the_others_to_the_assign_page(
    client, supervisor, monkeypatch
):
    monkeypatch.setattr(selectors.assign, "INLINE_OTHERS_MAX", 2)
    anna = OperatorFactory(name="Anna")
    contact = waiting_contact(anna=anna)
    OperatorFactory.create_batch(3)
    client.force_login(supervisor)
    listed = client.get(reverse("contact_list")).text
    assert [label for label, _ in options_of(listed, f"assign-{contact.pk}")] == ["Operators of Site form"]
    assert f'href="{reverse("contact_assign", args=[contact.pk])}?next=' in listed
    page = client.get(reverse("contact_assign", args=[contact.pk])).text
    groups = options_of(page, "assign-operator")
    assert [label for label, _ in groups] == ["Operators of Site form", "Other operators"]
    assert len(groups[1][1]) == 3


def test_the_admins_assign_action_groups_the_menu_and_warns_outside_the_source(admin_client):
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    contact = waiting_contact(anna=anna)
    ContactFactory(operator=anna)
    changelist = reverse("admin:crm_contact_changelist")
    picked = {"action": "assign_to_operator", "_selected_action": [contact.pk]}
    page = admin_client.post(changelist, picked).text.replace("&#x27;", "'")
    assert options_of(page, "id_operator") == [
        ("Operators of Site form", ["Anna — 1 / 10"]),
        ("Other operators", ["Boris — 0 / 10"]),
    ]
    done = admin_client.post(changelist, {**picked, "operator": boris.pk}, follow=True).text
    assert "1 contact assigned to Boris." in done
    assert "1 contact went to Boris outside its source" in done
    contact.refresh_from_db()
    assert contact.explanation["outside_source"] is True
