"""/api/v1/subscriptions: the contract receivers and scripts rely on (the secret once, 400 naming the
field, 404, write scope for every operation)."""

from unittest import mock

import pytest

from crm.tests.factories import SourceFactory
from events import signing
from events.choices import DeliveryStatus
from events.models import Delivery, Subscription
from integrations.tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

URL = "https://hooks.example.com/leadflow"
PATH = "/api/v1/subscriptions"


def create(writer, **fields) -> dict:
    response = writer.post(PATH, {"url": URL, "events": ["contact.assigned"], "source_id": None, **fields})
    assert response.status_code == 201, response.content
    return response.json()


def test_create_answers_the_secret_once_and_reads_never_show_it(writer):
    source = SourceFactory()
    made = create(writer, events=["contact.assigned", "contact.closed"], source_id=source.pk)
    subscription = Subscription.objects.get(pk=made["id"])
    assert made["secret"] == signing.secret_of(subscription.secret_salt)
    assert made["secret"].startswith("whsec_") and made["secret_prefix"] == subscription.secret_prefix
    assert {k: made[k] for k in ("url", "events", "source_id", "is_active")} == {
        "url": URL,
        "events": ["contact.assigned", "contact.closed"],
        "source_id": source.pk,
        "is_active": True,
    }
    one = writer.get(f"{PATH}/{made['id']}")
    listed = writer.get(PATH)
    assert one.status_code == 200 and listed.status_code == 200
    assert "secret" not in one.json() and made["secret"] not in one.text + listed.text
    assert listed.json()["count"] == 1 and listed.json()["items"] == [one.json()]


def test_change_and_delete(writer):
    made = create(writer)
    source = SourceFactory()
    changed = writer.patch(
        f"{PATH}/{made['id']}", {"events": ["contact.waiting"], "is_active": False, "source_id": source.pk}
    )
    assert changed.status_code == 200
    assert changed.json()["events"] == ["contact.waiting"] and changed.json()["source_id"] == source.pk
    assert changed.json()["is_active"] is False
    back = writer.patch(f"{PATH}/{made['id']}", {"source_id": None})
    assert back.json()["source_id"] is None
    assert writer.patch(f"{PATH}/{made['id']}", {"url": None}).json()["errors"].keys() == {"url"}
    assert writer.delete(f"{PATH}/{made['id']}").status_code == 204
    assert not Subscription.objects.exists()
    assert writer.get(f"{PATH}/{made['id']}").status_code == 404
    assert writer.delete(f"{PATH}/{made['id']}").status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "http://127.0.0.1:8080/hook"}, "url"),
        ({"url": "http://[::1]/hook"}, "url"),
        ({"url": "ftp://hooks.example.com/"}, "url"),
        ({"events": ["contact.teleported"]}, "events"),
        ({"events": []}, "events"),
        ({"source_id": 999999}, "source_id"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(writer, settings, body, field):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    response = writer.post(PATH, {"url": URL, "events": ["contact.assigned"], **body})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert not Subscription.objects.exists()
    made = create(writer)
    changed = writer.patch(f"{PATH}/{made['id']}", body)
    assert changed.status_code == 400 and list(changed.json()["errors"]) == [field]


def test_a_private_url_is_taken_when_allowed(writer, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    assert create(writer, url="http://127.0.0.1:8080/hook")["url"] == "http://127.0.0.1:8080/hook"


def test_test_event_is_queued(writer):
    made = create(writer)
    response = writer.post(f"{PATH}/{made['id']}/test")
    assert response.status_code == 202
    delivery = Delivery.objects.get(subscription_id=made["id"])
    assert response.json() == {"delivery_id": delivery.pk, "event_id": str(delivery.event.public_id)}
    assert delivery.status == DeliveryStatus.PENDING and delivery.event.type == "leadflow.test"


def test_rotate_secret_answers_the_new_one_with_grace(writer):
    made = create(writer)
    rotated = writer.post(f"{PATH}/{made['id']}/rotate-secret", {"grace_seconds": 3600})
    assert rotated.status_code == 200
    subscription = Subscription.objects.get()
    assert rotated.json()["secret"] == signing.secret_of(subscription.secret_salt) != made["secret"]
    assert subscription.previous_salt and rotated.json()["previous_secret_until"]
    at_once = writer.post(f"{PATH}/{made['id']}/rotate-secret")
    assert at_once.status_code == 200 and at_once.json()["previous_secret_until"] is None
    assert writer.post(f"{PATH}/{made['id']}/rotate-secret", {"grace_seconds": -1}).status_code == 400


@pytest.mark.parametrize(
    "method, suffix, body",
    [
        ("get", "", None),
        ("patch", "", {"is_active": False}),
        ("delete", "", None),
        ("post", "/test", None),
        ("post", "/rotate-secret", {}),
    ],
)
def test_an_unknown_id_is_404(writer, method, suffix, body):
    args = [f"{PATH}/424242{suffix}"] + ([body] if body is not None else [])
    response = getattr(writer, method)(*args)
    assert response.status_code == 404 and list(response.json()["errors"]) == ["id"]


def test_deleted_meanwhile_is_404(writer):
    made = create(writer)
    with mock.patch(
        "integrations.api.subscriptions.services.update_subscription", side_effect=Subscription.DoesNotExist
    ):
        response = writer.patch(f"{PATH}/{made['id']}", {"is_active": False})
    assert response.status_code == 404
    with mock.patch(
        "integrations.api.subscriptions.services.rotate_secret", side_effect=Subscription.DoesNotExist
    ):
        response = writer.post(f"{PATH}/{made['id']}/rotate-secret")
    assert response.status_code == 404


def test_a_read_key_gets_403_and_no_key_401(writer, reader):
    made = create(writer)
    for method, path, body in [
        ("get", PATH, None),
        ("get", f"{PATH}/{made['id']}", None),
        ("post", PATH, {"url": URL, "events": ["contact.assigned"]}),
        ("patch", f"{PATH}/{made['id']}", {"is_active": False}),
        ("delete", f"{PATH}/{made['id']}", None),
        ("post", f"{PATH}/{made['id']}/test", None),
        ("post", f"{PATH}/{made['id']}/rotate-secret", {}),
    ]:
        args = [path] + ([body] if body is not None else [])
        refused = getattr(reader, method)(*args)
        assert refused.status_code == 403, (method, path)
        assert list(refused.json()["errors"]) == ["authorization"]
        assert getattr(ApiClient(), method)(*args).status_code == 401
    assert Subscription.objects.count() == 1 and not Delivery.objects.exists()
