"""The OpenAPI schema (OpenAPI 3, every path, the webhook too), the offline docs page, and one error shape."""

import re
from html.parser import HTMLParser
from unittest import mock

import pytest
from django.contrib.staticfiles import finders
from django.db import IntegrityError, OperationalError

from crm.choices import Presence, UnassignedReason
from integrations.tests.conftest import ApiClient, client_with

pytestmark = pytest.mark.django_db

API_PATHS = {
    "/api/v1/operators": {"get", "post"},
    "/api/v1/operators/{operator_id}": {"get", "patch"},
    "/api/v1/operators/{operator_id}/schedule": {"get", "put"},
    "/api/v1/operators/{operator_id}/skills": {"get", "put"},
    "/api/v1/holidays": {"get", "post"},
    "/api/v1/holidays/{holiday_id}": {"delete"},
    "/api/v1/skills": {"get", "post"},
    "/api/v1/sources": {"get", "post"},
    "/api/v1/sources/{source_id}": {"get", "patch"},
    "/api/v1/sources/{source_id}/weights": {"put"},
    "/api/v1/leads": {"get"},
    "/api/v1/leads/{lead_id}": {"get"},
    "/api/v1/contacts": {"get"},
    "/api/v1/contacts/{contact_id}": {"get"},
    "/api/v1/contacts/{contact_id}/assign": {"post"},
    "/api/v1/contacts/{contact_id}/accept": {"post"},
    "/api/v1/contacts/{contact_id}/decline": {"post"},
    "/api/v1/contacts/{contact_id}/close": {"post"},
    "/api/v1/contacts/{contact_id}/withdraw": {"post"},
    "/api/v1/contacts/{contact_id}/reopen": {"post"},
    "/api/v1/stats": {"get"},
    "/api/v1/subscriptions": {"get", "post"},
    "/api/v1/subscriptions/{subscription_id}": {"get", "patch", "delete"},
    "/api/v1/subscriptions/{subscription_id}/test": {"post"},
    "/api/v1/subscriptions/{subscription_id}/rotate-secret": {"post"},
}
WEBHOOK = "/api/contacts/"
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
def schema() -> dict:
    response = ApiClient().get("/api/v1/openapi.json")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    return response.json()


def refs(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_schema_is_openapi_3_and_lists_every_path(schema):
    assert re.fullmatch(r"3\.\d+\.\d+", schema["openapi"])
    assert schema["info"]["title"] and schema["info"]["version"] == "1"
    assert {path: set(ops) for path, ops in schema["paths"].items()} == {**API_PATHS, WEBHOOK: {"post"}}


def test_schema_is_structurally_valid(schema):
    """The OpenAPI 3 rules a client generator relies on, checked without a validator package."""
    components = schema["components"]
    operation_ids = []
    for path, operations in schema["paths"].items():
        assert path.startswith("/")
        for method, op in operations.items():
            assert method in METHODS
            operation_ids.append(op["operationId"])
            assert op["responses"], f"{method} {path} has no responses"
            for status, answer in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", status) and answer["description"]
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), f"{method} {path} path parameters"
            for parameter in op.get("parameters", []):
                assert parameter["in"] in {"query", "header", "path", "cookie"} and "schema" in parameter
                assert parameter["in"] != "path" or parameter["required"] is True
            for requirement in op.get("security", []):
                assert set(requirement) <= set(components["securitySchemes"])
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"
    assert refs(schema)
    for ref in refs(schema):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in components["schemas"], ref


def test_every_api_operation_needs_a_key_and_documents_its_errors(schema):
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {"type": "http", "scheme": "bearer"}
    for path, methods in API_PATHS.items():
        for method in methods:
            op = schema["paths"][path][method]
            assert op["security"] == [{"ApiKeyAuth": []}]
            assert "401" in op["responses"]
            error = op["responses"]["401"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorOut"}
            if method != "get":
                assert {"400", "403"} <= set(op["responses"]), f"{method} {path}"


def test_lists_document_paging(schema):
    for path in [
        "/api/v1/operators",
        "/api/v1/sources",
        "/api/v1/leads",
        "/api/v1/contacts",
        "/api/v1/holidays",
        "/api/v1/subscriptions",
    ]:
        op = schema["paths"][path]["get"]
        assert {"limit", "offset"} <= {p["name"] for p in op["parameters"]}
        page = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert {"items", "count", "limit", "offset"} <= set(
            schema["components"]["schemas"][page]["properties"]
        )
    contact_filters = {p["name"] for p in schema["paths"]["/api/v1/contacts"]["get"]["parameters"]}
    assert {"source", "operator", "lead", "unassigned", "from", "to"} <= contact_filters


def test_the_webhook_is_documented_with_its_own_token_and_contract(schema):
    op = schema["paths"][WEBHOOK]["post"]
    assert op["security"] == [{"SourceToken": []}]
    assert schema["components"]["securitySchemes"]["SourceToken"]["scheme"] == "bearer"
    assert {"200", "201", "400", "401", "403", "405", "413", "415", "422", "503"} <= set(op["responses"])
    body = schema["components"]["schemas"]["WebhookContact"]
    assert body["required"] == ["external_id"] and body["properties"]["name"]["maxLength"] == 200
    assert [p["name"] for p in op["parameters"]] == ["Idempotency-Key"]


def test_documenting_the_webhook_leaves_it_served_by_its_own_view(client):
    # Still the plain Django view: its own 405 (a ninja operation would have answered differently).
    response = client.get(WEBHOOK)
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json() == {"errors": {"method": ["Use POST."]}}
    assert client.post(WEBHOOK, {"external_id": "x"}).status_code == 401


class Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def test_docs_page_loads_only_local_static_files():
    response = ApiClient().get("/api/v1/docs")
    assert response.status_code == 200
    parser = Assets()
    parser.feed(response.text)
    assert {"/static/ninja/swagger-ui-bundle.js", "/static/ninja/swagger-ui.css"} <= set(parser.urls)
    for url in parser.urls:
        assert url.startswith("/static/"), url
        assert finders.find(url.removeprefix("/static/")), f"{url} is not among the static files"
    assert "cdn" not in response.text.lower() and "//" not in re.sub(
        r"https?://www\.w3\.org[^\"]*", "", response.text
    )
    # The schema comes from this server, and Swagger UI's online validator badge is off.
    assert '"url": "/api/v1/openapi.json"' in response.text and '"validatorUrl": null' in response.text


# --- Errors: always {"errors": {field: [messages]}} ---------------------------------------------------


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("delete", "/api/v1/operators", 405),
        ("put", "/api/v1/operators/1", 405),
        ("get", "/api/v1/sources/1/weights", 405),
        ("get", "/api/v1/nothing-here", 404),
        ("get", "/api/v1/operators/", 404),  # no trailing slashes
        ("get", "/api/v1/", 404),
    ],
)
def test_routing_errors_have_the_error_shape(writer, method, path, status):
    response = getattr(writer, method)(path)
    assert response.status_code == status
    body = response.json()
    assert list(body) == ["errors"] and all(isinstance(m, list) and m for m in body["errors"].values())
    if status == 405:
        assert body["errors"]["method"] and response["Allow"]


def test_a_database_outage_is_503_with_retry_after(read_key):
    with mock.patch(
        "integrations.api.stats.selectors.dashboard", side_effect=OperationalError("server closed")
    ):
        response = client_with(read_key[1]).get("/api/v1/stats")
    assert response.status_code == 503 and response["Retry-After"]
    assert list(response.json()["errors"]) == ["database"]


def test_a_concurrent_conflict_is_409_not_500(writer):
    with mock.patch(
        "integrations.api.sources.crm_services.create_source", side_effect=IntegrityError("unique")
    ):
        response = writer.post("/api/v1/sources", {"name": "Bot"})
    assert response.status_code == 409 and list(response.json()["errors"]) == ["request"]


def test_a_bug_is_a_logged_500_in_the_error_shape(read_key):
    client = client_with(read_key[1])
    client.raise_request_exception = False
    with mock.patch("integrations.api.stats.selectors.dashboard", side_effect=RuntimeError("bug")):
        response = client.get("/api/v1/stats")
    assert response.status_code == 500 and list(response.json()) == ["errors"]


def test_every_reason_a_contact_waits_is_listed_wherever_one_is_answered(schema):
    """Integrations switch on these codes: the webhook's receipt, a contact and a source's `blocked` list
    them all, the shift's and presence's reasons included."""
    components = schema["components"]["schemas"]
    assert components["UnassignedReason"]["enum"] == list(UnassignedReason.values)
    assert {"nobody_on_shift", "nobody_available"} <= set(UnassignedReason.values)
    reason = {"$ref": "#/components/schemas/UnassignedReason"}
    for model, field in [
        ("WebhookReceipt", "unassigned_reason"),
        ("ContactOut", "unassigned_reason"),
        ("SourceDetail", "blocked"),
        ("SourceStat", "blocked"),
    ]:
        assert reason in components[model]["properties"][field]["anyOf"], model
    presence = components["OperatorOut"]["properties"]["presence"]["$ref"].rsplit("/", 1)[1]
    assert components[presence]["enum"] == list(Presence.values)


# --- Outbound events -----------------------------------------------------------------------------------


def test_the_event_body_is_documented_with_every_type_and_an_example_of_each(schema):
    from events.choices import EventType

    parts = schema["components"]["schemas"]
    event = parts["Event"]
    assert set(EventType.values) <= set(event["properties"]["type"]["enum"])
    assert set(event["required"]) == {"id", "type", "created_at", "data"}
    contact = parts["EventContactData"]["properties"]["contact"]
    assert {"id", "external_id", "source_id", "state", "operator_id", "operator_name"} <= set(
        contact["required"]
    )
    assert set(parts["EventContactData"]["properties"]["why"]["properties"]) == {"path", "reason", "by"}
    examples = {e["value"]["type"]: e["value"] for e in schema["components"]["examples"].values()}
    assert set(EventType.values) <= set(examples) and event["examples"] == list(examples.values())
    for name, body in examples.items():
        assert set(body) == {"id", "type", "created_at", "data"}, name
        if name.startswith("contact."):
            assert set(body["data"]["contact"]) == set(contact["properties"]), name
            assert body["data"]["contact"]["state"] in contact["properties"]["state"]["enum"]
    delivery = schema["webhooks"]["event"]["post"]
    assert {p["name"] for p in delivery["parameters"]} == {"Leadflow-Signature", "Leadflow-Event-Id"}
    assert delivery["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Event"
    }
