import random
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from crm.models import Lead, Operator, Source, SourceToken
from crm.secrets import token_digest
from crm.tests.factories import (
    ContactFactory,
    LeadFactory,
    OperatorFactory,
    SourceFactory,
    WeightFactory,
    page_form,
)
from distribution.intake import store_contact
from distribution.routes import route_for_token_digest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["operator", "source", "lead", "contact"])
def test_changelist_and_add_or_change_pages_render(admin_client, model):
    contact = ContactFactory()
    WeightFactory(source=contact.source, operator=contact.operator)
    assert admin_client.get(reverse(f"admin:crm_{model}_changelist")).status_code == 200
    obj = {"operator": contact.operator, "source": contact.source, "lead": contact.lead, "contact": contact}[
        model
    ]
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


def test_source_page_has_weights_inline_and_never_shows_the_token(admin_client):
    weight = WeightFactory(weight=7)
    page = admin_client.get(reverse("admin:crm_source_change", args=[weight.source.pk])).text
    assert 'name="weights-0-weight"' in page and 'value="7"' in page
    assert weight.source.token_prefix in page and weight.source.token not in page  # only the prefix is known
    assert 'name="token' not in page


def test_weights_are_saved_from_the_inline(admin_client):
    source, operator = SourceFactory(), OperatorFactory()
    form = {
        "name": source.name,
        "missed_offers_before_away": "3",
        "strategy": "weighted",
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
        "missed_offers_before_away": "3",
        "strategy": "weighted",
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


def test_source_page_shows_the_webhook_url_a_ready_curl_and_the_token_prefix(admin_client):
    source = SourceFactory(name="Bot")
    page = admin_client.get(reverse("admin:crm_source_change", args=[source.pk])).text
    assert "http://testserver/api/contacts/" in page
    assert "curl -sS -X POST http://testserver/api/contacts/" in page
    assert "Authorization: Bearer $SOURCE_TOKEN" in page
    assert "“Authorization: Bearer &lt;token&gt;”" in page  # the placeholder is text, not a swallowed tag
    assert f"<code>{source.token_prefix}…</code>" in page
    assert f'href="{reverse("admin:crm_source_rotate", args=[source.pk])}"' in page


def works(token: str, *, at=None) -> bool:
    """Whether the webhook would take this token (at that moment)."""
    return route_for_token_digest(token_digest(token), now=at) is not None


def test_regenerating_a_token_asks_first_then_shows_the_new_token_once_with_the_curl(admin_client):
    source = SourceFactory(name="Bot")
    old = source.token
    url = reverse("admin:crm_source_rotate", args=[source.pk])
    assert url.endswith(f"/admin/crm/source/{source.pk}/regenerate-token/")

    confirm = admin_client.get(url)
    assert confirm.status_code == 200 and "Yes, make a new webhook token" in confirm.text
    assert admin_client.post(url, {}).status_code == 200  # a grace period must be chosen
    assert SourceToken.objects.filter(source=source).count() == 1  # nothing happens before the confirmation

    done = admin_client.post(url, {"grace": "1"})
    assert done.status_code == 302  # post, redirect, get: a reload of the next page cannot rotate again
    shown = admin_client.get(done["Location"])
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    new = shown.context["shown"]["secret"]
    assert len(new) >= 40 and works(new) and works(old)
    assert f"Bearer {new}&quot;" in shown.text and "shown only this once" in shown.text
    assert "keeps working until" in shown.text
    ending = SourceToken.objects.get(source=source, digest=token_digest(old)).expires_at
    assert ending == pytest.approx(timezone.now() + timedelta(hours=1), abs=timedelta(minutes=1))

    again = admin_client.get(done["Location"])  # a reload says it was shown, and shows nothing
    assert again.status_code == 410 and new not in again.text and "was shown once" in again.text
    assert SourceToken.objects.filter(source=source).count() == 2
    # The source page says until when the replaced token works, and never shows a token again.
    page = admin_client.get(reverse("admin:crm_source_change", args=[source.pk])).text
    assert "keeps working until" in page and new not in page and new[:8] in page


def test_regenerating_without_a_grace_period_stops_the_old_token_at_once(admin_client):
    source = SourceFactory()
    old = source.token
    done = admin_client.post(reverse("admin:crm_source_rotate", args=[source.pk]), {"grace": "0"})
    assert "stopped working" in admin_client.get(done["Location"]).text
    assert not works(old)


@pytest.mark.parametrize("object_id", ["abc", "%00", "1%2F2", "9999999999999999999999", "1/2"])
def test_regenerating_an_id_that_is_no_source_is_404(admin_client, object_id):
    SourceFactory()
    response = admin_client.get(f"/admin/crm/source/{object_id}/regenerate-token/")
    assert response.status_code == 404
    response = admin_client.post(f"/admin/crm/source/{object_id}/regenerate-token/", {"grace": "0"})
    assert response.status_code == 404


def test_regenerating_needs_the_change_permission(client, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_source"))
    client.force_login(viewer)
    source = SourceFactory()
    response = client.post(reverse("admin:crm_source_rotate", args=[source.pk]), {"grace": "0"})
    assert response.status_code == 403


def test_a_new_source_shows_its_token_once_on_a_page_of_its_own(admin_client):
    response = admin_client.post(
        reverse("admin:crm_source_add"),
        {
            "name": "Phone line",
            "missed_offers_before_away": "3",
            "strategy": "weighted",
            "weights-TOTAL_FORMS": "0",
            "weights-INITIAL_FORMS": "0",
        },
    )
    source = Source.objects.get(name="Phone line")
    assert response.status_code == 302
    shown = admin_client.get(response["Location"])
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    token = shown.context["shown"]["secret"]
    assert works(token) and source.token_prefix == token[:8]
    assert "none: the source is new" in shown.text
    assert admin_client.get(response["Location"]).status_code == 410


def test_weights_inline_shows_share_load_and_active_without_row_titles(admin_client):
    source = SourceFactory(name="Telegram bot")
    anna = OperatorFactory(name="Anna", load_limit=5)
    boris = OperatorFactory(name="Boris", is_active=False)
    WeightFactory(source=source, operator=anna, weight=3)
    WeightFactory(source=source, operator=boris, weight=1)
    ContactFactory.create_batch(2, operator=anna)
    page = admin_client.get(reverse("admin:crm_source_change", args=[source.pk])).text
    assert "75.0%" in page and "25.0%" in page
    assert "2 / 5" in page and "0 / 10" in page
    assert 'alt="True"' in page and 'alt="False"' in page
    assert "Telegram bot → Anna" not in page


def test_contacts_read_as_time_lead_and_source(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    contact = ContactFactory(
        lead=LeadFactory(name="Ivan"),
        source=SourceFactory(name="Site form"),
        created_at=datetime(2024, 6, 1, 10, 30, tzinfo=UTC),
    )
    assert str(contact) == "2024-06-01 12:30 CEST · Ivan · Site form"


def test_deleting_an_operator_with_contacts_explains_and_offers_deactivation(admin_client):
    anna = OperatorFactory(name="Anna")
    ContactFactory.create_batch(3, operator=anna)
    url = reverse("admin:crm_operator_delete", args=[anna.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "Anna has handled 3 contacts" in page.text and "Switch Anna off" in page.text
    assert "permission" not in page.text.lower()
    response = admin_client.post(url, {"deactivate": "1"})
    assert response.status_code == 302
    anna.refresh_from_db()
    assert not anna.is_active and Operator.objects.filter(pk=anna.pk).exists()
    # Without contacts the usual confirmation deletes.
    idle = OperatorFactory()
    admin_client.post(reverse("admin:crm_operator_delete", args=[idle.pk]), {"post": "yes"})
    assert not Operator.objects.filter(pk=idle.pk).exists()


def test_bulk_deleting_operators_with_contacts_is_refused_in_plain_words(admin_client):
    anna, idle = OperatorFactory(name="Anna"), OperatorFactory(name="Idle")
    ContactFactory(operator=anna)
    url = reverse("admin:crm_operator_changelist")
    response = admin_client.post(
        url, {"action": "delete_selected", "_selected_action": [anna.pk, idle.pk]}, follow=True
    )
    assert "Not deleted: Anna handled contacts" in response.text
    assert Operator.objects.count() == 2
    confirm = admin_client.post(url, {"action": "delete_selected", "_selected_action": [idle.pk]})
    assert confirm.status_code == 200 and "Are you sure you want to delete the selected" in confirm.text
    admin_client.post(url, {"action": "delete_selected", "_selected_action": [idle.pk], "post": "yes"})
    assert list(Operator.objects.all()) == [anna]


def test_admin_dates_use_the_one_format_with_the_time_zone(admin_client):
    lead = LeadFactory(created_at=datetime(2024, 6, 1, 10, 30, tzinfo=UTC))
    page = admin_client.get(reverse("admin:crm_lead_changelist")).text
    assert "2024-06-01 10:30 UTC" in page
    assert "2024-06-01 10:30 UTC" in admin_client.get(reverse("admin:crm_lead_change", args=[lead.pk])).text


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
    assert (
        admin_client.post(reverse("admin:crm_contact_delete", args=[contact.pk]), {"post": "yes"}).status_code
        == 403
    )


def test_contact_list_filters_unassigned_without_a_query_per_row(admin_client, django_assert_max_num_queries):
    ContactFactory.create_batch(15)
    ContactFactory.create_batch(5, operator=None)
    url = reverse("admin:crm_contact_changelist")
    with django_assert_max_num_queries(12):
        response = admin_client.get(url, {"assignment": "unassigned"})
    assert response.context["cl"].result_count == 5
    assert admin_client.get(url).context["cl"].result_count == 20


@pytest.mark.parametrize("rows", [2, 20])
def test_source_and_lead_pages_run_a_fixed_number_of_queries(
    admin_client, django_assert_max_num_queries, rows
):
    source, lead = SourceFactory(), LeadFactory()
    for _ in range(rows):
        operator = OperatorFactory()
        WeightFactory(source=source, operator=operator)
        ContactFactory(lead=lead, source=source, operator=operator)
    with django_assert_max_num_queries(14):
        assert admin_client.get(reverse("admin:crm_source_change", args=[source.pk])).status_code == 200
    with django_assert_max_num_queries(12):
        assert admin_client.get(reverse("admin:crm_lead_change", args=[lead.pk])).status_code == 200


def test_admin_dates_use_the_pages_one_format_with_the_time_zone(admin_client, settings):
    ContactFactory(created_at=datetime(2026, 3, 4, 5, 6, tzinfo=UTC))
    page = admin_client.get(reverse("admin:crm_contact_changelist")).text
    assert "2026-03-04 05:06 UTC" in page


def test_contact_admin_finds_a_lead_by_its_exact_external_id_and_counts_once(
    admin_client, django_assert_max_num_queries
):
    # Exact, through the unique index: a partial match joined every matching lead's contacts (seconds at a
    # million contacts); and no second count of the whole table ("3 of 1,000,000 total").
    wanted = ContactFactory(lead=LeadFactory(external_id="tg-1001"))
    ContactFactory(lead=LeadFactory(external_id="tg-10012"))
    url = reverse("admin:crm_contact_changelist")
    page = admin_client.get(url, {"q": "tg-1001"}).text
    assert "1 contact" in page and "tg-10012" not in page and str(wanted.lead) in page
    assert "tg-1001" not in admin_client.get(url, {"q": "tg-100"}).text.split('id="result_list"')[-1]
    assert "total" not in page


def test_contact_and_lead_admin_lists_show_fifty_rows_a_page(admin_client):
    ContactFactory.create_batch(51)
    for model in ("contact", "lead"):
        page = admin_client.get(reverse(f"admin:crm_{model}_changelist")).text
        assert page.count('name="_selected_action"') == 50, model


def test_a_lead_search_in_the_admin_counts_only_up_to_a_cap_and_says_more_than(admin_client, monkeypatch):
    from crm import selectors

    monkeypatch.setattr(selectors.CappedPaginator, "COUNT_CAP", 3)
    LeadFactory.create_batch(5, name="Alice Archer")
    url = reverse("admin:crm_lead_changelist")
    page = admin_client.get(url, {"q": "archer"}).text
    assert "more than 3 results" in page and "more than 3 leads" in page
    plain = admin_client.get(url).text  # no search: the exact count
    assert "5 leads" in plain and "more than" not in plain


def test_the_russian_admin_writes_dates_in_the_pages_format_with_the_time_zone(admin_client, settings):
    # Django's own Russian DATETIME_FORMAT ("4 марта 2026 г. 5:06") has no zone; config/formats/ru sets ours.
    contact = ContactFactory(created_at=datetime(2026, 3, 4, 5, 6, tzinfo=UTC))
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    listed = admin_client.get(reverse("admin:crm_contact_changelist")).text
    assert '<td class="field-created_at nowrap">04.03.2026 05:06 UTC</td>' in listed
    shown = admin_client.get(reverse("admin:crm_contact_change", args=[contact.pk])).text
    assert '<div class="readonly">04.03.2026 05:06 UTC</div>' in shown
    assert "марта" not in listed + shown


def test_a_share_reads_the_same_in_the_admin_and_on_the_dashboard_in_either_language(admin_client, settings):
    source = SourceFactory(name="Bot")
    WeightFactory(source=source, operator=OperatorFactory(name="Anna"), weight=2)
    WeightFactory(source=source, operator=OperatorFactory(name="Boris"), weight=1)
    for language, anna, boris in [("en", "66.7%", "33.3%"), ("ru", "66,7%", "33,3%")]:
        admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        inline = admin_client.get(reverse("admin:crm_source_change", args=[source.pk])).text
        dashboard = admin_client.get(reverse("dashboard")).text
        for page in (inline, dashboard):
            assert anna in page and boris in page, language


def test_a_lead_page_opened_before_a_webhook_renamed_the_lead_keeps_the_new_name(admin_client):
    """Mutants: changes told against the lead now; the whole lead as the page showed it saved; the save
    without its auto-now stamp."""
    lead = LeadFactory(external_id="tg-42", name="Ivan")
    source = SourceFactory()
    url = reverse("admin:crm_lead_change", args=[lead.pk])
    form = page_form(admin_client.get(url).text)
    form["external_id"] = ["tg-43"]
    store_contact(source=source, external_id="tg-42", name="Ivan Petrov", rng=random.Random(1))
    renamed_at = Lead.objects.get(pk=lead.pk).updated_at
    assert admin_client.post(url, form).status_code == 302
    lead.refresh_from_db()
    assert (lead.external_id, lead.name) == ("tg-43", "Ivan Petrov")
    assert lead.updated_at > renamed_at  # the page's change is stamped too
