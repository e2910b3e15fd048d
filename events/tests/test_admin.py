"""Subscriptions and deliveries in the admin: the secret shown once, rotated, a test event, send again."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.tests.factories import SourceFactory, page_form
from events import services, signing
from events.choices import DeliveryStatus, EventType
from events.models import Delivery, Subscription

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/leadflow"


def subscription(**fields) -> Subscription:
    return services.create_subscription(url=URL, events=[EventType.CONTACT_ASSIGNED], **fields)[0]


def test_a_new_subscription_shows_its_secret_once(admin_client):
    source = SourceFactory()
    response = admin_client.post(
        reverse("admin:events_subscription_add"),
        {
            "url": URL,
            "events": ["contact.assigned", "contact.closed"],
            "source": source.pk,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    made = Subscription.objects.get()
    assert made.events == ["contact.assigned", "contact.closed"] and made.source == source
    shown = admin_client.get(response["Location"])
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    secret = shown.context["shown"]["secret"]
    assert secret == signing.secret_of(made.secret_salt) and secret in shown.text
    again = admin_client.get(response["Location"])
    assert again.status_code == 410 and secret not in again.text
    assert "was shown once" in again.text


def test_the_form_refuses_a_private_url_and_no_event_type(admin_client, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    response = admin_client.post(
        reverse("admin:events_subscription_add"),
        {"url": "http://127.0.0.1:9000/", "events": ["contact.assigned"]},
    )
    assert response.status_code == 200 and "private or local" in response.text
    response = admin_client.post(reverse("admin:events_subscription_add"), {"url": URL})
    assert response.status_code == 200
    assert not Subscription.objects.exists()


def test_the_list_shows_all_sources_and_failed_deliveries(admin_client):
    sub = subscription()
    delivery = services.send_test_event(subscription=sub)
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    response = admin_client.get(reverse("admin:events_subscription_changelist"))
    assert response.status_code == 200
    row = response.context["cl"].result_list[0]
    assert row.failed_count == 1
    assert "all sources" in response.text and sub.secret_prefix in response.text


def test_rotating_shows_the_new_secret_once_and_keeps_the_old_in_grace(admin_client):
    sub = subscription()
    old_salt = sub.secret_salt
    url = reverse("admin:events_subscription_rotate", args=[sub.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"grace": "24"})
    assert response.status_code == 302
    shown = admin_client.get(response["Location"])
    sub.refresh_from_db()
    assert shown.context["shown"]["secret"] == signing.secret_of(sub.secret_salt)
    assert sub.secret_salt != old_salt and sub.previous_salt == old_salt
    assert sub.previous_until > timezone.now() + timedelta(hours=23)
    assert admin_client.get(response["Location"]).status_code == 410


def test_send_test_event_makes_a_delivery_shown_on_the_page(admin_client):
    sub = subscription()
    change = reverse("admin:events_subscription_change", args=[sub.pk])
    page = admin_client.get(change)
    test_url = reverse("admin:events_subscription_test", args=[sub.pk])
    assert test_url in page.text
    assert admin_client.get(test_url).status_code == 405
    response = admin_client.post(test_url)
    assert response.status_code == 302 and response["Location"] == change
    (delivery,) = Delivery.objects.filter(subscription=sub)
    assert delivery.event.type == "leadflow.test" and delivery.status == DeliveryStatus.PENDING
    page = admin_client.get(change)
    assert [d.pk for d in page.context["recent_deliveries"]] == [delivery.pk]
    assert "leadflow.test" in page.text


def test_send_again_resets_a_failed_delivery(admin_client):
    sub = subscription()
    delivery = services.send_test_event(subscription=sub)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED, attempts=11, next_attempt_at=timezone.now() - timedelta(days=1)
    )
    changelist = reverse("admin:events_delivery_changelist")
    listed = admin_client.get(changelist, {"status__exact": "failed"})
    assert [d.pk for d in listed.context["cl"].result_list] == [delivery.pk]
    admin_client.post(changelist, {"action": "send_again", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0
    assert delivery.next_attempt_at > timezone.now() - timedelta(minutes=1)
    assert admin_client.get(reverse("admin:events_delivery_change", args=[delivery.pk])).status_code == 200


def test_non_staff_are_refused(client, django_user_model):
    sub = subscription()
    user = django_user_model.objects.create_user("clerk", password="pw-12345678")
    client.force_login(user)
    for url in (
        reverse("admin:events_subscription_changelist"),
        reverse("admin:events_delivery_changelist"),
        reverse("admin:events_subscription_rotate", args=[sub.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and reverse("admin:login") in response["Location"]
    response = client.post(reverse("admin:events_subscription_test", args=[sub.pk]))
    assert response.status_code == 302 and not Delivery.objects.exists()


def test_the_form_offers_every_event_type_as_a_checkbox_and_the_list_searches_an_event_id(admin_client):
    page = admin_client.get(reverse("admin:events_subscription_add"))
    for code in EventType.values:
        assert f'type="checkbox" name="events" value="{code}"' in page.text
    delivery = services.send_test_event(subscription=subscription())
    changelist = reverse("admin:events_delivery_changelist")
    found = admin_client.get(changelist, {"q": str(delivery.event.public_id)})
    assert [d.pk for d in found.context["cl"].result_list] == [delivery.pk]
    assert admin_client.get(changelist, {"q": "not-a-uuid"}).status_code == 200


def test_changing_and_deleting_go_through_the_services(admin_client):
    sub = subscription()
    salt = sub.secret_salt
    change = reverse("admin:events_subscription_change", args=[sub.pk])
    form = page_form(admin_client.get(change).text)
    form |= {"url": [URL + "/v2"], "events": ["contact.waiting"]}
    del form["is_active"]  # unticked
    response = admin_client.post(change, form)
    assert response.status_code == 302
    sub.refresh_from_db()
    assert (sub.url, sub.events, sub.is_active, sub.secret_salt) == (
        URL + "/v2",
        ["contact.waiting"],
        False,
        salt,
    )
    delete = reverse("admin:events_subscription_delete", args=[sub.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not Subscription.objects.exists()


def test_a_page_opened_before_an_integration_switched_the_subscription_off_keeps_it_off(admin_client):
    """Mutant: changes told against the subscription now (the page's ticked box switches it on again)."""
    sub = subscription()
    change = reverse("admin:events_subscription_change", args=[sub.pk])
    form = page_form(admin_client.get(change).text)
    form["events"] = [EventType.CONTACT_ASSIGNED, EventType.CONTACT_WAITING]
    services.update_subscription(subscription=sub, is_active=False)  # the API, meanwhile
    assert admin_client.post(change, form).status_code == 302
    sub.refresh_from_db()
    assert (sub.is_active, sorted(sub.events)) == (False, ["contact.assigned", "contact.waiting"])
