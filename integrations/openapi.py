"""The OpenAPI schema's texts, and the channel webhook's entry in it.

The webhook (`POST /api/contacts/`, distribution.api) is a plain Django view with its own contract; it
is described here, without going through ninja's routing, so the schema documents every JSON endpoint
while the webhook stays served exactly as before. Its limits are read from its form (distribution.webhook).
"""

from typing import Any

from django.utils.translation import gettext, gettext_noop

from distribution.webhook import (
    MAX_BODY_BYTES,
    MAX_IDEMPOTENCY_KEY,
    PATH,
    ContactForm,
    SkillNames,
    WebhookReceipt,
)
from events import schema as event_schema
from integrations.api.common import ErrorOut

DESCRIPTION = gettext_noop("""\
JSON API for the systems around the contact centre: telephony switching operators on and off, BI jobs
pulling assignments, provisioning scripts.

**Authentication.** Every `/api/v1/` operation needs an API key, sent as `Authorization: Bearer <key>`.
Supervisors create keys in the admin (*Integrations → API keys*) or with
`python manage.py create_api_key NAME --scope read|write`; the key is shown once. A `read` key may use
the GET operations, a `write` key everything. Unknown or revoked key: 401; a `read` key writing: 403.

**Lists** take `limit` (1–500, default 50) and `offset` and answer
`{"items": [...], "count": N, "limit": L, "offset": O}`; `count` is the total of matching items.

**Times** are answered in UTC. A moment sent (`presence_until`) must carry its offset
(`2026-11-23T14:30:00+03:00`); one without is refused. A schedule's dates and `HH:MM` times are wall-clock
values in the operator's own `timezone`.

**Errors** always have the shape `{"errors": {"<field>": ["<message>", ...]}}`: 400 for a malformed body
or an invalid field (nothing is changed), 401/403 as above, 404 for an unknown id in the path, 405 for a
method the path does not take, 409 for an assignment the rules refuse.

**Channel webhook.** `POST /api/contacts/` is where channels post new contacts, authenticated by their
source's token (not an API key); it is listed here too.
""")

REF = "#/components/schemas/{model}"


def _error(description: str, **headers: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorOut")}}},
    }
    if headers:
        answer["headers"] = {
            name: {"description": text, "schema": {"type": "string"}} for name, text in headers.items()
        }
    return answer


def _text(name: str, description: str, *, required: bool = False) -> dict[str, Any]:
    field = ContactForm.base_fields[name]
    return {"type": "string", "maxLength": field.max_length, "description": description} | (
        {"minLength": 1} if required else {}
    )


CONTACT_IN = {
    "title": "WebhookContact",
    "type": "object",
    "required": ["external_id"],
    "properties": {
        "external_id": {
            "anyOf": [_text("external_id", "", required=True), {"type": "integer"}],
            "description": gettext_noop(
                "The customer's id in the channel, after trimming; a JSON integer is taken as its "
                "decimal string. No control characters."
            ),
        },
        "source_id": {
            "type": "integer",
            "minimum": 1,
            "description": gettext_noop(
                "Optional; if given, must be the token's source (the token alone decides it)."
            ),
        },
        "name": _text("name", gettext_noop("The lead's display name; a non-empty name renames the lead.")),
        "message": _text("message", gettext_noop("The customer's message (line breaks and tabs allowed).")),
        "skills": {
            "type": "array",
            "items": {"type": "string"},
            "maxItems": SkillNames.MAX,
            "description": gettext_noop(
                "Optional: names of skills the operator must hold (with the source's required ones); a form "
                "sends them comma-separated. Unknown names are refused with 422."
            ),
        },
    },
    "additionalProperties": True,
    "description": gettext_noop("Other fields are ignored."),
}

RECEIPT = WebhookReceipt.model_json_schema(ref_template=REF)
RECEIPT_PARTS = RECEIPT.pop("$defs", {})  # the reason codes' enum, as a component of its own
# Its description is the enum's docstring (crm.choices.UnassignedReason), said here to be translated.
RECEIPT_PARTS["UnassignedReason"]["description"] = gettext_noop(
    "Why a contact has no operator (stored on the contact)."
)

# The API's enums' descriptions are their docstrings (crm.choices), which pydantic gives as they are: said
# here to be in the catalogue, and translated with the rest (translated()).
ENUM_DESCRIPTIONS = (
    gettext_noop("Whether an operator is there to take contacts now (only `available` ones are given any)."),
    gettext_noop("Why an operator is away."),
    gettext_noop("A change to the weekly schedule for some dates."),
    gettext_noop(
        "Where a contact is in its life: waiting → offered → accepted (or assigned directly, for sources\n"
        "without offers) → closed."
    ),
    gettext_noop("How an offer ended (pending while it runs)."),
    gettext_noop("How a source chooses among the operators who can take a contact (distribution.selection)."),
)

WEBHOOK = {
    "post": {
        "operationId": "channel_webhook_post_contact",
        "summary": gettext_noop("Post a new contact (channels)"),
        "description": gettext_noop(
            "Stores the contact, assigns it to one of the source's operators (weighted draw, hard "
            "load limit) or keeps it unassigned with a reason, and says which. Authenticated by the source's "
            "webhook token, not an API key. The body is JSON or a URL-encoded form, UTF-8, at most "
            "%(kib)d KiB. With an `Idempotency-Key`, a repeat returns the original answer with "
            "200 and stores nothing."
        ),
        "tags": ["channel webhook"],
        "security": [{"SourceToken": []}],
        "parameters": [
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "description": gettext_noop(
                    "Unique per delivery (e.g. the channel's message id), printable characters."
                ),
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model="WebhookContact")}},
                "application/x-www-form-urlencoded": {"schema": {"$ref": REF.format(model="WebhookContact")}},
            },
        },
        "responses": {
            "201": {
                "description": gettext_noop("Stored (assigned, or kept unassigned with a reason)."),
                "content": {"application/json": {"schema": {"$ref": REF.format(model="WebhookReceipt")}}},
            },
            "200": {
                "description": gettext_noop(
                    "A repeat of an earlier request with this Idempotency-Key: its answer again."
                ),
                "headers": {"Idempotent-Replay": {"schema": {"type": "string", "enum": ["true"]}}},
                "content": {"application/json": {"schema": {"$ref": REF.format(model="WebhookReceipt")}}},
            },
            "400": _error(gettext_noop("A field or the body is invalid; do not retry it unchanged.")),
            "401": _error(
                gettext_noop("The token is missing or unknown."), **{"WWW-Authenticate": "Bearer realm"}
            ),
            "403": _error(gettext_noop("`source_id` is not the token's source.")),
            "405": _error(gettext_noop("Not a POST."), Allow="POST"),
            "413": _error(gettext_noop("Body over %(kib)d KiB.")),
            "415": _error(gettext_noop("Not JSON or a URL-encoded form, or not UTF-8.")),
            "422": _error(
                gettext_noop(
                    "The Idempotency-Key was used before with different fields, or `skills` names a skill "
                    "that does not exist."
                )
            ),
            "503": _error(
                gettext_noop("The database is unavailable; nothing was stored."),
                **{"Retry-After": gettext_noop("Seconds to wait.")},
            ),
        },
    }
}


def add_webhook(schema: dict[str, Any]) -> None:
    """Add the webhook's path, its body and answer shapes and the source-token scheme to the schema."""
    schema["paths"][PATH] = WEBHOOK
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["WebhookContact"] = CONTACT_IN
    schemas["WebhookReceipt"] = RECEIPT
    schemas.update(RECEIPT_PARTS)
    # ErrorOut is there whenever an API operation declares an error answer; be safe if none ever does.
    schemas.setdefault("ErrorOut", ErrorOut.model_json_schema(ref_template=REF))
    components.setdefault("securitySchemes", {})["SourceToken"] = {
        "type": "http",
        "scheme": "bearer",
        "description": gettext_noop("The source's webhook token (admin → Sources; shown once, when made)."),
    }


OUTBOUND_EVENT = {
    "post": {
        "operationId": "outbound_event",
        "summary": gettext_noop("An outbound event (Leadflow posts it to each subscription's URL)"),
        "description": gettext_noop(
            "Signed with the subscription's secret: Leadflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 "
            "of the timestamp, a dot and the raw body>. Answer 2xx within the timeout; anything else is "
            "retried with backoff for about a day (docs/api.md, Outbound events)."
        ),
        "tags": ["subscriptions"],
        "parameters": [
            {
                "in": "header",
                "name": "Leadflow-Signature",
                "required": True,
                "schema": {"type": "string", "pattern": "^t=[0-9]+(,v1=[0-9a-f]{64})+$"},
                "description": gettext_noop("A second v1 while a rotated secret is in its grace."),
            },
            {
                "in": "header",
                "name": "Leadflow-Event-Id",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
                "description": gettext_noop("The event's id: deduplicate by it."),
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": REF.format(model="Event")},
                    "examples": event_schema.examples(),
                }
            },
        },
        "responses": {"200": {"description": gettext_noop("Received (any 2xx).")}},
    }
}


def add_events(schema: dict[str, Any]) -> None:
    """The outbound events' body (components.schemas.Event and its parts), an example of each type
    (components.examples, made by events.outbox's own code) and the delivery as an OpenAPI 3.1 webhook."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(event_schema.SCHEMAS)
    examples = event_schema.examples()
    components.setdefault("examples", {}).update(examples)
    components["schemas"]["Event"] = {
        **event_schema.SCHEMAS["Event"],
        "examples": [example["value"] for example in examples.values()],
    }
    schema.setdefault("webhooks", {})["event"] = OUTBOUND_EVENT


# Values the texts above name as %(kib)d and such: filled in as the schema is served, after translating.
VALUES = {"kib": MAX_BODY_BYTES // 1024}
SAID = ("description", "summary")


def translated(schema: Any) -> Any:
    """The schema with its texts (every description and summary, and the title) in the active language.

    The texts are written in English where they are defined, marked for the catalogue (gettext_noop), and
    translated here, per request, so that Swagger UI shows our descriptions in the reader's language (its
    own buttons and labels stay as Swagger writes them). A copy: the definitions are shared by every request.
    """
    if isinstance(schema, list):
        return [translated(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: _said(value) if key in SAID and isinstance(value, str) else translated(value)
        for key, value in schema.items()
    }


def _said(text: str) -> str:
    if not text:
        return text  # gettext("") is the catalogue's header
    said = gettext(text)
    return said % VALUES if "%(" in said else said
