"""POST /api/contacts/ and GET /healthz through Django's test client."""

import json
import logging
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone

from crm.models import Contact, Lead, Source
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db

URL = "/api/contacts/"


@pytest.fixture
def source():
    source = SourceFactory()
    WeightFactory(source=source, operator=OperatorFactory(load_limit=100))
    return source


def post(client, source=None, body=None, *, token=None, content_type="application/json", raw=None, **headers):
    if token is None and source is not None:
        token = source.token
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    data = raw if raw is not None else json.dumps(body if body is not None else {"external_id": "user123"})
    # CONTENT_TYPE explicitly: the test client drops it for an empty body, real senders do not.
    return client.generic("POST", URL, data, content_type=content_type, CONTENT_TYPE=content_type, **headers)


def assert_error(response, status, field):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    errors = response.json()["errors"]
    assert field in errors and errors[field] and all(isinstance(m, str) for m in errors[field])
    assert not Contact.objects.exists()


def test_seed_example_request_gives_the_seed_response_shape(client, source):
    response = post(client, source, {"external_id": "user123", "source_id": source.pk})
    assert response.status_code == 201
    body = response.json()
    contact = Contact.objects.get()
    assert body == {
        "contact_id": contact.pk,
        "lead_id": contact.lead_id,
        "source_id": source.pk,
        "assigned_operator": contact.operator_id,
        "state": "assigned",
        "offer_expires_at": None,
        "unassigned_reason": None,
    }
    assert contact.operator_id is not None and contact.lead.external_id == "user123"


def test_a_source_that_makes_offers_answers_offered_to_whom_and_until_when(client, source):
    Source.objects.filter(pk=source.pk).update(accept_within_seconds=45)
    body = post(client, source, {"external_id": "user123"}).json()
    contact = Contact.objects.get()
    assert (body["state"], body["assigned_operator"]) == ("offered", contact.operator_id)
    assert body["offer_expires_at"] == contact.offer_expires_at.isoformat().replace("+00:00", "Z")


def test_name_and_message_are_stored(client, source):
    post(client, source, {"external_id": " user123 ", "name": "Ivan", "message": "line 1\nline 2"})
    contact = Contact.objects.select_related("lead").get()
    assert (contact.lead.external_id, contact.lead.name, contact.message) == (
        "user123",
        "Ivan",
        "line 1\nline 2",
    )


def test_form_encoded_body_is_accepted(client, source):
    response = post(
        client,
        source,
        raw=f"external_id=form-1&name=Maria&source_id={source.pk}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201
    assert Lead.objects.get().name == "Maria"


def test_nobody_free_is_201_with_null_operator_and_reason(client):
    source = SourceFactory()
    response = post(client, source)
    assert response.status_code == 201
    assert response.json()["assigned_operator"] is None
    assert response.json()["unassigned_reason"] == "no_operators"


def test_integer_external_id_is_taken_as_its_decimal_string(client, source):
    assert post(client, source, {"external_id": 123456789}).status_code == 201
    assert Lead.objects.get().external_id == "123456789"


@pytest.mark.parametrize("external_id", ["Иван Петров", "🦊🚀", "👨‍👩‍👧", "客户-42", "a" * 255])
def test_unicode_external_ids_are_accepted(client, source, external_id):
    response = post(client, source, {"external_id": external_id})
    assert response.status_code == 201
    assert Lead.objects.get(pk=response.json()["lead_id"]).external_id == external_id


def test_trailing_slash_is_optional(client, source):
    response = client.post(
        "/api/contacts",
        {"external_id": "x"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {source.token}",
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "external_id"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "   "}, "external_id"),
        ({"external_id": "a" * 256}, "external_id"),
        ({"external_id": "tab\there"}, "external_id"),
        ({"external_id": "nul\x00"}, "external_id"),
        ({"external_id": "\ud800"}, "external_id"),
        ({"external_id": None}, "external_id"),
        ({"external_id": True}, "external_id"),
        ({"external_id": 1.5}, "external_id"),
        ({"external_id": ["x"]}, "external_id"),
        ({"external_id": {"id": 1}}, "external_id"),
        ({"external_id": "x", "name": "n" * 201}, "name"),
        ({"external_id": "x", "name": 5}, "name"),
        ({"external_id": "x", "name": "bell\x07"}, "name"),
        ({"external_id": "x", "message": "m" * 10_001}, "message"),
        ({"external_id": "x", "message": "nul\x00"}, "message"),
        ({"external_id": "x", "source_id": "one"}, "source_id"),
        ({"external_id": "x", "source_id": 0}, "source_id"),
        ({"external_id": "x", "source_id": True}, "source_id"),
        ({"external_id": "x", "source_id": 1.0}, "source_id"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(client, source, body, field):
    assert_error(post(client, source, body), 400, field)


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        ("{not json", "application/json"),
        ("", "application/json"),
        ('["a list"]', "application/json"),
        ('"a string"', "application/json"),
        ("null", "application/json"),
        ("[" * 100_00 + "]" * 100_00, "application/json"),
        (b'{"external_id": "\xff\xfe"}', "application/json"),
        ("external_id=%FF%FE", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_are_400_on_body(client, source, raw, content_type):
    assert_error(post(client, source, raw=raw, content_type=content_type), 400, "body")


def test_a_form_field_given_twice_is_400(client, source):
    response = post(
        client, source, raw="external_id=a&external_id=b", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 400, "external_id")


def test_missing_token_is_401(client, source):
    response = post(client, None, {"external_id": "x"})
    assert_error(response, 401, "authorization")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer nope", "Basic dXNlcjpwYXNz", "Bearer", "Token abc", "Bearer ünïcode"]
)
def test_unknown_or_malformed_token_is_401(client, source, header):
    assert_error(post(client, None, HTTP_AUTHORIZATION=header), 401, "authorization")


def test_token_of_another_source_is_403(client, source):
    other = SourceFactory()
    response = post(client, other, {"external_id": "x", "source_id": source.pk})
    assert_error(response, 403, "source_id")


def test_token_decides_the_source_when_source_id_is_absent(client, source):
    other = SourceFactory()
    assert post(client, other).json()["source_id"] == other.pk


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_other_methods_are_405_with_allow(client, source, method):
    response = getattr(client, method)(URL, HTTP_AUTHORIZATION=f"Bearer {source.token}")
    assert_error(response, 405, "method")
    assert response["Allow"] == "POST"


def test_body_over_64_kib_is_413(client, source):
    response = post(client, source, {"external_id": "x", "message": "m" * (64 * 1024)})
    assert_error(response, 413, "body")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "multipart/form-data; boundary=x", "application/xml", ""]
)
def test_other_content_types_are_415(client, source, content_type):
    assert_error(post(client, source, content_type=content_type), 415, "content_type")


def test_non_utf8_charset_is_415(client, source):
    assert_error(post(client, source, content_type="application/json; charset=latin-1"), 415, "content_type")


def test_idempotent_retry_returns_the_original_and_writes_nothing(client, source):
    first = post(client, source, {"external_id": "user123"}, HTTP_IDEMPOTENCY_KEY="delivery-1")
    again = post(client, source, {"external_id": "user123"}, HTTP_IDEMPOTENCY_KEY="delivery-1")
    assert first.status_code == 201 and "Idempotent-Replay" not in first
    assert again.status_code == 200 and again["Idempotent-Replay"] == "true"
    assert again.json() == first.json()
    assert Contact.objects.count() == 1


def test_same_key_with_different_body_is_422(client, source):
    post(client, source, {"external_id": "user123"}, HTTP_IDEMPOTENCY_KEY="delivery-1")
    response = post(client, source, {"external_id": "user124"}, HTTP_IDEMPOTENCY_KEY="delivery-1")
    assert response.status_code == 422
    assert "idempotency_key" in response.json()["errors"]
    assert Contact.objects.count() == 1


def test_keys_are_per_source(client, source):
    other = SourceFactory()
    post(client, source, HTTP_IDEMPOTENCY_KEY="k")
    assert post(client, other, HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    assert Contact.objects.count() == 2


def test_requests_without_a_key_are_never_deduplicated(client, source):
    post(client, source)
    post(client, source)
    assert Contact.objects.count() == 2


@pytest.mark.parametrize("key", ["", "k" * 256, "bad\x01key"])
def test_invalid_idempotency_key_is_400(client, source, key):
    assert_error(post(client, source, HTTP_IDEMPOTENCY_KEY=key), 400, "idempotency_key")


def test_database_outage_is_503_with_retry_after(client, source):
    with mock.patch(
        "distribution.webhook.route_for_token_digest", side_effect=OperationalError("connection refused")
    ):
        response = post(client, source)
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert "database" in response.json()["errors"]


def test_database_outage_during_assignment_is_503_and_stores_nothing(client, source):
    with mock.patch("distribution.sql.insert_contact", side_effect=OperationalError("server closed")):
        response = post(client, source)
    assert response.status_code == 503
    assert not Lead.objects.exists() and not Contact.objects.exists()


def test_csrf_is_enforced_elsewhere_but_not_on_the_webhook(source):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert post(strict, source).status_code == 201
    assert strict.post("/admin/login/", {"username": "x", "password": "y"}).status_code == 403


def test_one_log_line_per_intake_without_the_token(client, source, caplog):
    with caplog.at_level(logging.INFO, logger="leadflow.intake"):
        post(client, source)
        post(client, None, token="wrong-token")
    lines = [r.getMessage() for r in caplog.records if r.name == "leadflow.intake"]
    assert len(lines) == 2
    contact = Contact.objects.get()
    assert f"status=201 source={source.pk} lead={contact.lead_id} contact={contact.pk}" in lines[0]
    assert "duration_ms=" in lines[0] and "status=401" in lines[1]
    assert all(source.token not in line and "wrong-token" not in line for line in caplog.text.splitlines())


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert client.post("/healthz").status_code == 405


def test_healthz_is_503_when_the_database_is_down(client):
    with mock.patch("distribution.api.connection.cursor", side_effect=OperationalError("down")):
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
    assert "Retry-After" in response


def test_chunked_body_without_length_is_411_never_read_as_empty(client, source):
    response = post(client, source, HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="")
    assert_error(response, 411, "body")


def test_compressed_body_is_415(client, source):
    assert_error(post(client, source, HTTP_CONTENT_ENCODING="gzip"), 415, "content_encoding")


def test_a_source_deleted_in_flight_is_answered_as_an_unknown_token(client, source):
    from django.db import IntegrityError

    from distribution import intake

    real = intake.store_contact

    def delete_then_fail(**kwargs):
        source.weights.all().delete()
        type(source).objects.filter(pk=source.pk).delete()
        raise IntegrityError("insert or update on table crm_contact violates foreign key constraint")

    with mock.patch.object(intake, "store_contact", side_effect=delete_then_fail):
        response = post(client, source)
    assert real is intake.store_contact
    assert_error(response, 401, "authorization")


def test_repeated_bad_tokens_get_429_with_retry_after_and_a_good_token_still_works(client, source, settings):
    settings.API_AUTH_FAILURE_LIMIT = 3
    statuses = [post(client, None, token="wrong").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    response = post(client, None, token="wrong")
    assert int(response["Retry-After"]) > 0 and "authorization" in response.json()["errors"]
    assert post(client, source).status_code == 201


def test_a_rotated_token_works_during_its_grace_period_then_401(client, source):
    from datetime import timedelta

    from crm.services import regenerate_token

    old = source.token
    new = regenerate_token(source=source, grace=timedelta(hours=1))
    assert post(client, None, {"external_id": "a"}, token=old).status_code == 201
    assert post(client, None, {"external_id": "b"}, token=new).status_code == 201
    source.secrets.filter(expires_at__isnull=False).update(expires_at=timezone.now())
    assert_status = post(client, None, {"external_id": "c"}, token=old).status_code
    assert assert_status == 401
    regenerate_token(source=source)  # no grace: the previous token stops at once
    assert post(client, None, {"external_id": "d"}, token=new).status_code == 401


# --- Skills a contact asks for -------------------------------------------------------------------------


@pytest.fixture
def ru_and_en(source):
    """The fixture's operator holds no skills; a second one holds ru."""
    from crm.models import Skill
    from distribution import capacity

    for name in ("ru", "en", "vip"):
        Skill.objects.create(name=name)
    russian = OperatorFactory(load_limit=100)
    WeightFactory(source=source, operator=russian, weight=1)
    capacity.set_operator_skills(operator=russian, names=["ru", "en"])
    return russian


def test_skills_asked_for_route_to_an_operator_holding_them(client, source, ru_and_en):
    for i in range(5):
        response = post(client, source, {"external_id": f"u{i}", "skills": ["ru"]})
        assert response.status_code == 201, response.content
        assert response.json()["assigned_operator"] == ru_and_en.pk
    assert Contact.objects.filter(skills=["ru"]).count() == 5


def test_skills_nobody_holds_wait_with_the_reason(client, source, ru_and_en):
    response = post(client, source, {"external_id": "u1", "skills": ["vip"]})
    assert response.status_code == 201
    body = response.json()
    assert (body["assigned_operator"], body["unassigned_reason"]) == (None, "nobody_with_skills")
    assert Contact.objects.get().explanation["skills"]["missing"] == ["vip"]


def test_unknown_skills_are_422_naming_them_and_nothing_is_written(client, source, ru_and_en):
    response = post(client, source, {"external_id": "u1", "skills": ["ru", "klingon", "elvish"]})
    assert response.status_code == 422, response.content
    assert set(response.json()) == {"errors"} and set(response.json()["errors"]) == {"skills"}
    (message,) = response.json()["errors"]["skills"]
    assert "klingon" in message and "elvish" in message and "ru," not in message
    assert not Contact.objects.exists() and not Lead.objects.exists()


@pytest.mark.parametrize("skills", ["", [], None])
def test_no_skills_is_no_requirement(client, source, ru_and_en, skills):
    assert post(client, source, {"external_id": "u1", "skills": skills}).status_code == 201
    assert Contact.objects.get().skills == []


@pytest.mark.parametrize("skills", [{"ru": True}, 5, [1], ["ru", ""], [["ru"]], True, ["ru"] * 21])
def test_skills_not_a_list_of_names_are_400(client, source, ru_and_en, skills):
    assert_error(post(client, source, {"external_id": "u1", "skills": skills}), 400, "skills")
    assert not Lead.objects.exists()


def test_form_bodies_send_skills_comma_separated(client, source, ru_and_en):
    response = post(
        client,
        source,
        raw="external_id=form-1&skills=ru,en",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 201, response.content
    assert response.json()["assigned_operator"] == ru_and_en.pk
    assert Contact.objects.get().skills == ["en", "ru"]


def test_form_bodies_with_unknown_skills_are_422(client, source, ru_and_en):
    response = post(
        client,
        source,
        raw="external_id=form-1&skills=ru,xx",
        content_type="application/x-www-form-urlencoded",
    )
    assert_error(response, 422, "skills")


def test_a_replay_with_the_same_skills_is_the_original(client, source, ru_and_en):
    body = {"external_id": "u1", "skills": ["ru", "en"]}
    first = post(client, source, body, HTTP_IDEMPOTENCY_KEY="d-1")
    again = post(client, source, {**body, "skills": ["en", "ru"]}, HTTP_IDEMPOTENCY_KEY="d-1")
    assert first.status_code == 201
    assert again.status_code == 200 and again["Idempotent-Replay"] == "true"
    assert again.json() == first.json()
    assert Contact.objects.count() == 1


@pytest.mark.parametrize("second", [["en"], [], None])
def test_a_replay_with_other_skills_is_422(client, source, ru_and_en, second):
    post(client, source, {"external_id": "u1", "skills": ["ru"]}, HTTP_IDEMPOTENCY_KEY="d-1")
    body = {"external_id": "u1"} | ({"skills": second} if second is not None else {})
    response = post(client, source, body, HTTP_IDEMPOTENCY_KEY="d-1")
    assert response.status_code == 422
    assert "idempotency_key" in response.json()["errors"]
    assert Contact.objects.count() == 1


def test_a_key_stored_without_skills_still_replays_without_them(client, source, ru_and_en):
    first = post(client, source, {"external_id": "u1"}, HTTP_IDEMPOTENCY_KEY="d-1")
    again = post(client, source, {"external_id": "u1", "skills": []}, HTTP_IDEMPOTENCY_KEY="d-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert (
        post(client, source, {"external_id": "u1", "skills": ["ru"]}, HTTP_IDEMPOTENCY_KEY="d-1").status_code
        == 422
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"operator_id": 7, "state": "assigned", "unassigned_reason": ""},
        {"operator_id": 7, "state": "offered", "unassigned_reason": "", "offer_expires_at": "microseconds"},
        {"operator_id": 7, "state": "offered", "unassigned_reason": "", "offer_expires_at": "whole seconds"},
        {"operator_id": None, "state": "waiting", "unassigned_reason": "all_at_limit"},
    ],
)
def test_the_receipt_written_directly_is_what_its_schema_says(fields):
    # WebhookReceipt.of skips the schema's validation for speed: its object must be the schema's own.
    from distribution.webhook import WebhookReceipt

    deadline = {
        "microseconds": timezone.now().replace(microsecond=5),
        "whole seconds": timezone.now().replace(microsecond=0),
    }
    fields = {**fields, "offer_expires_at": deadline.get(fields.get("offer_expires_at"))}
    contact = Contact(pk=3, lead_id=4, source_id=5, **fields)
    receipt = WebhookReceipt.of(contact)
    assert receipt == WebhookReceipt(**receipt).model_dump(mode="json")
    assert json.loads(json.dumps(receipt)) == receipt  # plain JSON values only
    expected = {"contact_id": 3, "lead_id": 4, "source_id": 5, "assigned_operator": fields["operator_id"]}
    assert receipt.items() >= expected.items()
    assert receipt["state"] == fields["state"] and receipt["unassigned_reason"] == (
        fields["unassigned_reason"] or None
    )
    assert (receipt["offer_expires_at"] is None) == (fields["offer_expires_at"] is None)
