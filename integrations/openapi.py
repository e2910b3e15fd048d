"""The OpenAPI schema's texts, and the channel webhook's entry in it.

The webhook (`POST /api/contacts/`, distribution.api) is a plain Django view with its own contract; it
is described here, without going through ninja's routing, so the schema documents every JSON endpoint
while the webhook stays served exactly as before. Its limits are read from its form (distribution.webhook).
"""

from typing import Any

from distribution.webhook import MAX_BODY_BYTES, MAX_IDEMPOTENCY_KEY, PATH, ContactForm, WebhookReceipt
from integrations.api.common import ErrorOut

DESCRIPTION = """\
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
"""

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
            "description": "The customer's id in the channel, after trimming; a JSON integer is taken as its "
            "decimal string. No control characters.",
        },
        "source_id": {
            "type": "integer",
            "minimum": 1,
            "description": "Optional; if given, must be the token's source (the token alone decides it).",
        },
        "name": _text("name", "The lead's display name; a non-empty name renames the lead."),
        "message": _text("message", "The customer's message (line breaks and tabs allowed)."),
    },
    "additionalProperties": True,
    "description": "Other fields are ignored.",
}

RECEIPT = WebhookReceipt.model_json_schema(ref_template=REF)
RECEIPT_PARTS = RECEIPT.pop("$defs", {})  # the reason codes' enum, as a component of its own

WEBHOOK = {
    "post": {
        "operationId": "channel_webhook_post_contact",
        "summary": "Post a new contact (channels)",
        "description": "Stores the contact, assigns it to one of the source's operators (weighted draw, hard "
        "load limit) or keeps it unassigned with a reason, and says which. Authenticated by the source's "
        "webhook token, not an API key. The body is JSON or a URL-encoded form, UTF-8, at most "
        f"{MAX_BODY_BYTES // 1024} KiB. With an `Idempotency-Key`, a repeat returns the original answer with "
        "200 and stores nothing.",
        "tags": ["channel webhook"],
        "security": [{"SourceToken": []}],
        "parameters": [
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "description": "Unique per delivery (e.g. the channel's message id), printable characters.",
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
                "description": "Stored (assigned, or kept unassigned with a reason).",
                "content": {"application/json": {"schema": {"$ref": REF.format(model="WebhookReceipt")}}},
            },
            "200": {
                "description": "A repeat of an earlier request with this Idempotency-Key: its answer again.",
                "headers": {"Idempotent-Replay": {"schema": {"type": "string", "enum": ["true"]}}},
                "content": {"application/json": {"schema": {"$ref": REF.format(model="WebhookReceipt")}}},
            },
            "400": _error("A field or the body is invalid; do not retry it unchanged."),
            "401": _error("The token is missing or unknown.", **{"WWW-Authenticate": "Bearer realm"}),
            "403": _error("`source_id` is not the token's source."),
            "405": _error("Not a POST.", Allow="POST"),
            "413": _error(f"Body over {MAX_BODY_BYTES // 1024} KiB."),
            "415": _error("Not JSON or a URL-encoded form, or not UTF-8."),
            "422": _error("The Idempotency-Key was used before with different fields."),
            "503": _error(
                "The database is unavailable; nothing was stored.", **{"Retry-After": "Seconds to wait."}
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
        "description": "The source's webhook token (admin → Sources; shown once, when made).",
    }
