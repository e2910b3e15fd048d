import pytest
from django.urls import reverse

from crm.models import token_digest
from crm.models import Operator, Source
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["operator", "source", "lead", "contact"])
def test_changelist_and_add_or_change_pages_render(admin_client, model):
    contact = ContactFactory()
    WeightFactory(source=contact.source, operator=contact.operator)
    assert admin_client.get(reverse(f"admin:crm_{model}_changelist")).status_code == 200
    obj = {"operator": contact.operator, "source": contact.source, "lead": contact.lead, "contact": contact}[model]
    assert admin_client.get(reverse(f"admin:crm_{model}_change", args=[obj.pk])).status_code == 200


def test_admin_needs_login(client):
    response = client.get(reverse("admin:crm_operator_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_operator_list_shows_load_against_limit_in_a_fixed_number_of_queries(
    admin_client, django_assert_max_num_queries
):
    busy = OperatorFactory(name="Busy", load_limit=5)
    ContactFactory.create_batch(3, operator=busy)
    OperatorFactory.create_batch(20)
    with django_assert_max_num_queries(8):
        response = admin_client.get(reverse("admin:crm_operator_changelist"))
    assert "3 / 5" in response.text
    assert "0 / 10" in response.text


def test_operator_list_filters_and_searches(admin_client):
    OperatorFactory(name="Anna", is_active=True)
    OperatorFactory(name="Boris", is_active=False)
    url = reverse("admin:crm_operator_changelist")
    inactive = admin_client.get(url, {"is_active__exact": "0"}).text
    assert "Boris" in inactive and "Anna" not in inactive
    found = admin_client.get(url, {"q": "ann"}).text
    assert "Anna" in found and "Boris" not in found


def test_activate_and_deactivate_actions(admin_client):
    anna, boris = OperatorFactory(is_active=True), OperatorFactory(is_active=False)
    url = reverse("admin:crm_operator_changelist")
    admin_client.post(url, {"action": "deactivate", "_selected_action": [anna.pk, boris.pk]})
    assert not Operator.objects.filter(is_active=True).exists()
    admin_client.post(url, {"action": "activate", "_selected_action": [anna.pk]})
    assert list(Operator.objects.filter(is_active=True)) == [anna]


def test_source_page_has_weights_inline_with_operator_autocomplete_and_read_only_token(admin_client):
    weight = WeightFactory(weight=7)
    page = admin_client.get(reverse("admin:crm_source_change", args=[weight.source.pk])).text
    assert 'name="weights-0-weight"' in page and 'value="7"' in page
    assert "admin-autocomplete" in page
    assert weight.source.token_prefix in page and weight.source.token not in page  # only the prefix is known
    assert 'name="token' not in page


def test_weights_are_saved_from_the_inline(admin_client):
    source, operator = SourceFactory(), OperatorFactory()
    form = {
        "name": source.name,
        "weights-TOTAL_FORMS": "1",
        "weights-INITIAL_FORMS": "0",
        "weights-0-operator": operator.pk,
        "weights-0-weight": "4",
    }
    response = admin_client.post(reverse("admin:crm_source_change", args=[source.pk]), form)
    assert response.status_code == 302
    assert list(source.weights.values_list("operator", "weight")) == [(operator.pk, 4)]


def test_zero_weight_is_refused_by_the_form(admin_client):
    source, operator = SourceFactory(), OperatorFactory()
    form = {
        "name": source.name,
        "weights-TOTAL_FORMS": "1",
        "weights-INITIAL_FORMS": "0",
        "weights-0-operator": operator.pk,
        "weights-0-weight": "0",
    }
    response = admin_client.post(reverse("admin:crm_source_change", args=[source.pk]), form)
    assert response.status_code == 200
    assert not source.weights.exists()


def test_source_list_shows_operator_count_and_total_weight(admin_client):
    source = SourceFactory(name="Bot")
    WeightFactory(source=source, weight=2)
    WeightFactory(source=source, weight=5)
    page = admin_client.get(reverse("admin:crm_source_changelist")).text
    assert '<td class="field-operator_count">2</td>' in page
    assert '<td class="field-total_weight">7</td>' in page


def test_regenerate_token_action(admin_client):
    source = SourceFactory()
    old = source.token
    admin_client.post(
        reverse("admin:crm_source_changelist"), {"action": "regenerate_tokens", "_selected_action": [source.pk]}
    )
    response = admin_client.get(reverse("admin:crm_source_changelist"))
    source.refresh_from_db()
    assert source.token_digest != token_digest(old)
    (shown,) = [m.message for m in response.context["messages"] if "shown only this once" in m.message]
    new = shown.split(": ")[1].split(" ")[0]
    assert token_digest(new) == source.token_digest and len(new) >= 40


def test_lead_search_and_read_only_contacts_inline(admin_client):
    lead = LeadFactory(external_id="tg-42", name="Ivan")
    LeadFactory(external_id="tg-77", name="Maria")
    contact = ContactFactory(lead=lead, message="call me back")
    found = admin_client.get(reverse("admin:crm_lead_changelist"), {"q": "ivan"}).text
    assert "tg-42" in found and "tg-77" not in found
    page = admin_client.get(reverse("admin:crm_lead_change", args=[lead.pk])).text
    assert "call me back" in page and contact.operator.name in page
    assert 'name="contacts-0-message"' not in page


def test_contacts_are_read_only(admin_client):
    contact = ContactFactory()
    assert admin_client.get(reverse("admin:crm_contact_add")).status_code == 403
    page = admin_client.get(reverse("admin:crm_contact_change", args=[contact.pk])).text
    assert 'name="message"' not in page
    assert admin_client.post(reverse("admin:crm_contact_delete", args=[contact.pk]), {"post": "yes"}).status_code == 403


def test_contact_list_filters_unassigned_without_a_query_per_row(admin_client, django_assert_max_num_queries):
    ContactFactory.create_batch(15)
    ContactFactory.create_batch(5, operator=None)
    url = reverse("admin:crm_contact_changelist")
    with django_assert_max_num_queries(12):
        response = admin_client.get(url, {"assignment": "unassigned"})
    assert response.context["cl"].result_count == 5
    assert admin_client.get(url).context["cl"].result_count == 20
