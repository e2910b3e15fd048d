"""The staff dashboard warns about outbound deliveries given up in the last 24 hours, and links to them."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from events import services
from events.choices import DeliveryStatus
from events.models import Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("staff", password="pw-12345678", is_staff=True))
    return client


def failed(subscription, *, ago: timedelta) -> Delivery:
    delivery = services.send_test_event(subscription=subscription)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED, attempts=11, next_attempt_at=timezone.now() - ago
    )
    return delivery


def test_the_dashboard_warns_about_deliveries_failed_in_the_last_day(staff_client):
    subscription, _secret = services.create_subscription(
        url="https://hooks.example.com/leadflow", events=["contact.assigned"]
    )
    assert "failed-deliveries" not in staff_client.get(reverse("dashboard")).text
    failed(subscription, ago=timedelta(days=2))  # long ago: no warning
    services.send_test_event(subscription=subscription)  # pending: no warning
    assert "failed-deliveries" not in staff_client.get(reverse("dashboard")).text
    failed(subscription, ago=timedelta(hours=3))
    failed(subscription, ago=timedelta(hours=23))
    response = staff_client.get(reverse("dashboard"))
    assert "2 outbound event deliveries failed in the last 24 hours" in response.text
    link = reverse("admin:events_delivery_changelist") + "?status__exact=failed"
    assert f'href="{link}"' in response.text
