"""/api/v1/leads and /api/v1/contacts: lists with search and filters, details, manual assignment."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from crm.models import Contact
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    return [item["id"] for item in response.json()["items"]]


def at(day: str, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime.fromisoformat(f"{day}T{hour:02}:00"))


def test_leads_newest_first_and_searched_by_external_id_or_name(reader):
    old = LeadFactory(
        external_id="tg-1001", name="Ivan Petrov", created_at=timezone.now() - timedelta(days=1)
    )
    new = LeadFactory(external_id="site-7", name="Olga")
    assert ids(reader.get("/api/v1/leads")) == [new.pk, old.pk]
    assert ids(reader.get("/api/v1/leads", {"q": "PETROV"})) == [old.pk]
    assert ids(reader.get("/api/v1/leads", {"q": "site-"})) == [new.pk]
    assert reader.get("/api/v1/leads", {"q": "nobody"}).json() == {
        "items": [],
        "count": 0,
        "limit": 50,
        "offset": 0,
    }
    assert (
        reader.get("/api/v1/leads", {"limit": 1, "offset": 1}).json()["items"][0]["external_id"] == "tg-1001"
    )


def test_leads_filtered_by_source_operator_and_waiting_as_on_the_staff_list(reader):
    bot, form = SourceFactory(), SourceFactory()
    anna = OperatorFactory()
    by_bot = ContactFactory(source=bot, operator=anna).lead
    waiting = ContactFactory(source=form, operator=None).lead
    ContactFactory(source=form, lead=by_bot, operator=None)
    assert sorted(ids(reader.get("/api/v1/leads", {"source": bot.pk}))) == [by_bot.pk]
    assert sorted(ids(reader.get("/api/v1/leads", {"source": form.pk}))) == sorted([by_bot.pk, waiting.pk])
    assert ids(reader.get("/api/v1/leads", {"operator": anna.pk})) == [by_bot.pk]
    assert sorted(ids(reader.get("/api/v1/leads", {"waiting": "true"}))) == sorted([by_bot.pk, waiting.pk])
    assert ids(reader.get("/api/v1/leads", {"source": form.pk, "operator": anna.pk})) == [by_bot.pk]
    assert reader.get("/api/v1/leads", {"source": 0}).status_code == 400


@pytest.mark.parametrize(
    "path, params, unknown",
    [
        ("/api/v1/contacts", {"operator_id": 6}, ["operator_id"]),  # the field's name, not the filter's
        ("/api/v1/leads", {"query": "ivan", "page": 2}, ["page", "query"]),
        ("/api/v1/operators/1", {"expand": "load"}, ["expand"]),
        ("/api/v1/stats", {"source": 1}, ["source"]),
    ],
)
def test_unknown_query_parameters_are_400_naming_each(reader, path, params, unknown):
    OperatorFactory(pk=1)
    response = reader.get(path, params)
    assert response.status_code == 400 and sorted(response.json()["errors"]) == unknown


def test_lead_with_its_contacts_newest_first(reader):
    lead = LeadFactory(external_id="tg-1", name="Ivan")
    first = ContactFactory(lead=lead, created_at=timezone.now() - timedelta(hours=2), message="Hello")
    second = ContactFactory(lead=lead, operator=None, message="Anyone?")
    body = reader.get(f"/api/v1/leads/{lead.pk}").json()
    assert (body["external_id"], body["name"], body["contact_count"]) == ("tg-1", "Ivan", 2)
    assert [c["id"] for c in body["contacts"]] == [second.pk, first.pk]
    assert (
        body["contacts"][0]["unassigned_reason"] == "all_at_limit"
        and body["contacts"][0]["operator_id"] is None
    )
    assert body["contacts"][1]["unassigned_reason"] is None and body["contacts"][1]["message"] == "Hello"


def test_unknown_lead_is_404(reader):
    assert reader.get("/api/v1/leads/12345").status_code == 404


def test_contacts_filtered_by_source_operator_lead_and_assignment(reader):
    anna, bot, form = OperatorFactory(), SourceFactory(), SourceFactory()
    lead = LeadFactory()
    a = ContactFactory(source=bot, operator=anna, lead=lead)
    b = ContactFactory(source=form, operator=anna)
    c = ContactFactory(source=bot, operator=None)
    assert ids(reader.get("/api/v1/contacts")) == [c.pk, b.pk, a.pk]
    assert ids(reader.get("/api/v1/contacts", {"source": bot.pk})) == [c.pk, a.pk]
    assert ids(reader.get("/api/v1/contacts", {"operator": anna.pk})) == [b.pk, a.pk]
    assert ids(reader.get("/api/v1/contacts", {"lead": lead.pk})) == [a.pk]
    assert ids(reader.get("/api/v1/contacts", {"unassigned": "true"})) == [c.pk]
    assert ids(reader.get("/api/v1/contacts", {"unassigned": "false"})) == [b.pk, a.pk]
    assert ids(reader.get("/api/v1/contacts", {"source": bot.pk, "unassigned": "false"})) == [a.pk]
    body = reader.get("/api/v1/contacts", {"limit": 1, "offset": 1}).json()
    assert [item["id"] for item in body["items"]] == [b.pk] and body["count"] == 3
    assert "explanation" not in body["items"][0]


def test_contacts_by_date_range_both_days_included(reader, settings):
    settings.TIME_ZONE = "Europe/Moscow"  # days are local days, as on the contacts page
    timezone.activate("Europe/Moscow")
    try:
        before = ContactFactory(created_at=at("2024-03-01", 23))
        first = ContactFactory(created_at=at("2024-03-02", 0))
        last = ContactFactory(created_at=at("2024-03-03", 23))
        after = ContactFactory(created_at=at("2024-03-04", 0))
    finally:
        timezone.deactivate()
    assert ids(reader.get("/api/v1/contacts", {"from": "2024-03-02", "to": "2024-03-03"})) == [
        last.pk,
        first.pk,
    ]
    assert ids(reader.get("/api/v1/contacts", {"from": "2024-03-04"})) == [after.pk]
    assert ids(reader.get("/api/v1/contacts", {"to": "2024-03-01"})) == [before.pk]
    wide = {"from": "0001-01-02", "to": "9999-12-30"}
    assert ids(reader.get("/api/v1/contacts", wide)) == [after.pk, last.pk, first.pk, before.pk]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "2024-13-01"}, "from"),
        ({"from": "2024-03-02", "to": "2024-03-01"}, "to"),
        ({"to": "9999-12-31"}, "to"),  # the day after it cannot be represented
        ({"from": "0001-01-01"}, "from"),
        ({"source": "bot"}, "source"),
        ({"operator": "99999999999999999999999"}, "operator"),
        ({"unassigned": "perhaps"}, "unassigned"),
    ],
)
def test_bad_contact_filters_are_400_naming_the_parameter(reader, params, field):
    response = reader.get("/api/v1/contacts", params)
    assert response.status_code == 400 and list(response.json()["errors"]) == [field]


def test_contact_with_its_stored_explanation(reader):
    contact = ContactFactory(explanation={"path": "draw", "draws": [1], "candidates": []})
    body = reader.get(f"/api/v1/contacts/{contact.pk}").json()
    assert body["explanation"] == {"path": "draw", "draws": [1], "candidates": []}
    assert body["operator_id"] == contact.operator_id and body["assigned_at"] is not None
    assert reader.get("/api/v1/contacts/999").status_code == 404


# --- Manual assignment (distribution.manual.assign_manually) ---------------------------------------


def waiting_contact(*operators):
    source = SourceFactory()
    for operator in operators:
        WeightFactory(source=source, operator=operator)
    return ContactFactory(source=source, operator=None)


def test_assign_to_an_operator(writer, write_key):
    anna = OperatorFactory()
    contact = waiting_contact(anna)
    response = writer.post(f"/api/v1/contacts/{contact.pk}/assign", {"operator_id": anna.pk})
    assert response.status_code == 200
    body = response.json()
    assert body["operator_id"] == anna.pk and body["unassigned_reason"] is None
    assert body["explanation"]["path"] == "manual" and body["explanation"]["by"] == "api:provisioning script"
    contact.refresh_from_db()
    assert contact.operator_id == anna.pk and contact.assigned_at is not None


def test_assign_to_a_full_operator_is_409_unless_overridden(writer):
    full = OperatorFactory(name="Full", load_limit=0)
    contact = waiting_contact(full)
    response = writer.post(f"/api/v1/contacts/{contact.pk}/assign", {"operator_id": full.pk})
    assert response.status_code == 409 and "operator_id" in response.json()["errors"]
    contact.refresh_from_db()
    assert contact.operator_id is None
    response = writer.post(
        f"/api/v1/contacts/{contact.pk}/assign", {"operator_id": full.pk, "override": True}
    )
    assert response.status_code == 200 and response.json()["explanation"]["path"] == "manual_override"


def test_route_again_moves_the_contact_to_another_operator(writer):
    anna, boris = OperatorFactory(), OperatorFactory()
    source = SourceFactory()
    WeightFactory(source=source, operator=anna)
    WeightFactory(source=source, operator=boris)
    contact = ContactFactory(source=source, operator=anna)
    response = writer.post(f"/api/v1/contacts/{contact.pk}/assign", {"route_again": True})
    assert response.status_code == 200
    assert (
        response.json()["operator_id"] == boris.pk and response.json()["explanation"]["path"] == "route_again"
    )


def test_route_again_with_nobody_else_free_is_409(writer):
    anna = OperatorFactory()
    contact = waiting_contact()
    response = writer.post(f"/api/v1/contacts/{contact.pk}/assign", {"route_again": True})
    assert response.status_code == 409 and "route_again" in response.json()["errors"]
    contact.refresh_from_db()
    assert contact.operator_id is None and anna.contacts.count() == 0


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "operator_id"),
        ({"route_again": False}, "operator_id"),
        ({"operator_id": "OP", "route_again": True}, "operator_id"),
        ({"operator_id": 424242}, "operator_id"),
        ({"operator_id": "1"}, "operator_id"),
        ({"route_again": "yes"}, "route_again"),
    ],
)
def test_assign_refuses_unclear_or_invalid_requests(writer, payload, field):
    anna = OperatorFactory()
    contact = waiting_contact(anna)
    if payload.get("operator_id") == "OP":
        payload = {**payload, "operator_id": anna.pk}
    response = writer.post(f"/api/v1/contacts/{contact.pk}/assign", payload)
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    assert Contact.objects.get(pk=contact.pk).operator_id is None


def test_assign_unknown_contact_is_404(writer):
    anna = OperatorFactory()
    assert writer.post("/api/v1/contacts/31337/assign", {"operator_id": anna.pk}).status_code == 404
