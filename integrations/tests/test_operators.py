"""/api/v1/operators: list (paged, filtered), get with load, create, patch; through crm.services."""

import pytest
from django.urls import reverse

from crm.models import Contact, Operator
from crm.tests.factories import ContactFactory, OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db


def test_list_is_paged_by_name_with_the_total(reader):
    for name in ["Cleo", "Anna", "Boris"]:
        OperatorFactory(name=name)
    first = reader.get("/api/v1/operators", {"limit": 2}).json()
    assert [o["name"] for o in first["items"]] == ["Anna", "Boris"]
    assert (first["count"], first["limit"], first["offset"]) == (3, 2, 0)
    rest = reader.get("/api/v1/operators", {"limit": 2, "offset": 2}).json()
    assert [o["name"] for o in rest["items"]] == ["Cleo"] and rest["count"] == 3
    assert reader.get("/api/v1/operators", {"offset": 3}).json()["items"] == []
    assert reader.get("/api/v1/operators").json()["limit"] == 50


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"offset": -1}])
def test_bad_paging_is_a_400_naming_the_parameter(reader, params):
    response = reader.get("/api/v1/operators", params)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == list(params)


def test_list_filters_by_active(reader):
    OperatorFactory(name="On", is_active=True)
    OperatorFactory(name="Off", is_active=False)
    assert [o["name"] for o in reader.get("/api/v1/operators?active=true").json()["items"]] == ["On"]
    assert [o["name"] for o in reader.get("/api/v1/operators?active=false").json()["items"]] == ["Off"]
    assert reader.get("/api/v1/operators").json()["count"] == 2
    assert list(reader.get("/api/v1/operators?active=maybe").json()["errors"]) == ["active"]


def test_get_shows_the_current_load_and_limit(reader, django_assert_max_num_queries):
    anna = OperatorFactory(name="Anna", load_limit=5)
    ContactFactory.create_batch(3, operator=anna)
    ContactFactory(operator=None)
    with django_assert_max_num_queries(3):  # the key (and its first-use stamp), the operator with its load
        body = reader.get(f"/api/v1/operators/{anna.pk}").json()
    assert body["load"] == 3 and body["load_limit"] == 5 and body["is_active"] is True
    assert set(body) == {
        *("id", "name", "is_active", "load_limit", "load", "created_at", "updated_at"),
        *("presence", "presence_reason", "presence_until", "timezone"),
        *("on_shift", "shift_starts_at", "shift_ends_at"),
    }
    listed = reader.get("/api/v1/operators").json()["items"]
    assert [(o["id"], o["load"]) for o in listed] == [(anna.pk, 3)]


def test_get_unknown_operator_is_404(reader):
    for path in ["/api/v1/operators/999", "/api/v1/operators/99999999999999999999999"]:
        response = reader.get(path)
        assert response.status_code == 404
        assert response.json()["errors"]["id"][0].startswith("No operator with id")
    assert reader.get("/api/v1/operators/abc").status_code == 404


def test_create_answers_201_with_the_operator(writer):
    response = writer.post("/api/v1/operators", {"name": "Anna", "load_limit": 7, "is_active": False})
    assert response.status_code == 201
    body = response.json()
    anna = Operator.objects.get()
    assert body["id"] == anna.pk and body["load"] == 0
    assert (anna.name, anna.load_limit, anna.is_active) == ("Anna", 7, False)
    assert anna.history.count() == 1  # the same service as the admin: history kept


def test_create_defaults_like_the_admin(writer):
    body = writer.post("/api/v1/operators", {"name": "  Boris "}).json()
    assert body["name"] == "Boris"
    default = Operator._meta.get_field("load_limit").default
    assert (body["load_limit"], body["is_active"]) == (default, True)


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "   "}, "name"),  # trimmed as in the admin: blank
        ({"name": "An\x00na"}, "name"),  # PostgreSQL cannot store a NUL: refused, not a 500
        ({"name": "\ud800"}, "name"),
        ({"name": "A", "load_limit": -1}, "load_limit"),
        ({"name": "A", "load_limit": "5"}, "load_limit"),  # JSON types are strict
        ({"name": "A", "load_limit": 2**63}, "load_limit"),  # beyond the column: the model's validation
        ({"name": "A", "is_active": "yes"}, "is_active"),
        ({"name": "A", "active": False}, "active"),  # a typo is an error, not a silent no-op
    ],
)
def test_create_refuses_invalid_fields_with_400_and_writes_nothing(writer, payload, field):
    response = writer.post("/api/v1/operators", payload)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Operator.objects.exists()


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"Anna"', ""])
def test_a_body_that_is_not_a_json_object_is_400(writer, body):
    response = writer.post("/api/v1/operators", body)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["body"]


def test_patch_changes_only_the_fields_sent(writer):
    anna = OperatorFactory(name="Anna", load_limit=5, is_active=True)
    body = writer.patch(f"/api/v1/operators/{anna.pk}", {"load_limit": 9}).json()
    assert (body["name"], body["load_limit"], body["is_active"]) == ("Anna", 9, True)
    body = writer.patch(f"/api/v1/operators/{anna.pk}", {"name": "Anna K.", "is_active": False}).json()
    anna.refresh_from_db()
    assert (
        (anna.name, anna.load_limit, anna.is_active)
        == ("Anna K.", 9, False)
        == (
            body["name"],
            body["load_limit"],
            body["is_active"],
        )
    )
    assert writer.patch(f"/api/v1/operators/{anna.pk}", {}).status_code == 200


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": None}, "name"),
        ({"load_limit": -3}, "load_limit"),
        ({"is_active": None}, "is_active"),
        ({"id": 3}, "id"),
    ],
)
def test_patch_refuses_invalid_fields_and_changes_nothing(writer, payload, field):
    anna = OperatorFactory(name="Anna", load_limit=5)
    response = writer.patch(f"/api/v1/operators/{anna.pk}", payload)
    assert response.status_code == 400 and field in response.json()["errors"]
    anna.refresh_from_db()
    assert (anna.name, anna.load_limit, anna.is_active) == ("Anna", 5, True)


def test_patch_unknown_operator_is_404(writer):
    assert writer.patch("/api/v1/operators/404", {"is_active": False}).status_code == 404


@pytest.mark.parametrize("change", [{"is_active": True}, {"load_limit": 5}])
def test_patch_that_adds_capacity_routes_waiting_contacts_as_the_admin_does(
    writer, change, django_capture_on_commit_callbacks
):
    anna = OperatorFactory(is_active="is_active" not in change, load_limit=0 if "load_limit" in change else 5)
    source = SourceFactory()
    WeightFactory(source=source, operator=anna)
    waiting = ContactFactory(source=source, operator=None)
    with django_capture_on_commit_callbacks(execute=True):
        assert writer.patch(f"/api/v1/operators/{anna.pk}", change).status_code == 200
    waiting.refresh_from_db()
    assert waiting.operator_id == anna.pk and waiting.explanation["path"] == "capacity_change"


def test_patch_that_removes_capacity_drains_nothing(writer, django_capture_on_commit_callbacks):
    anna = OperatorFactory(load_limit=5)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        writer.patch(f"/api/v1/operators/{anna.pk}", {"is_active": False, "load_limit": 1})
    assert callbacks == [] and not Contact.objects.exists()


def test_a_change_through_the_api_is_recorded_with_its_key(writer, write_key, admin_client):
    anna = OperatorFactory(name="Anna", load_limit=37)
    assert writer.patch(f"/api/v1/operators/{anna.pk}", {"load_limit": 91}).status_code == 200
    latest = anna.history.latest()
    assert latest.history_change_reason == f"api:{write_key[0].name}" and latest.history_user is None
    # Shown as who made it, by the key's name in words, on the Changes page and in the admin's history.
    changes = admin_client.get(reverse("change_list")).text
    assert f"API key “{write_key[0].name}”" in changes and "37" in changes and "91" in changes
    history = admin_client.get(reverse("admin:crm_operator_history", args=[anna.pk])).text
    assert f"API key “{write_key[0].name}”" in history and f"api:{write_key[0].name}<" not in history


def test_a_change_in_the_admin_names_no_key(admin_client):
    anna = OperatorFactory(name="Anna", load_limit=37)
    admin_client.post(
        reverse("admin:crm_operator_changelist"), {"action": "deactivate", "_selected_action": [anna.pk]}
    )
    assert anna.history.latest().history_change_reason is None
