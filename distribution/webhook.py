"""The webhook's contract: who is calling (bearer token) and what they sent (JSON or a form), strictly checked.

Everything here answers a client mistake with a WebhookError (status, field, message); nothing a client
sends can reach the database unchecked.
"""

import hmac
import json
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qsl

from django.http import HttpRequest

from distribution.services import Route, routes

MAX_BODY_BYTES = 64 * 1024
MAX_EXTERNAL_ID = 255
MAX_NAME = 200
MAX_MESSAGE = 10_000
MAX_IDEMPOTENCY_KEY = 255
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class WebhookError(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


@dataclass(frozen=True)
class ContactPayload:
    external_id: str
    source_id: int | None = None
    name: str = ""
    message: str = ""


def authenticate(request: HttpRequest) -> Route:
    """The source whose token the request bears, with its operators (one query). Every token is compared
    in constant time, so the answer's timing says nothing about how much of a guess was right."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise WebhookError(401, "authorization", "Send the source's token as 'Authorization: Bearer <token>'.")
    matched = None
    for route in routes():
        if hmac.compare_digest(route.source.token.encode(), presented.encode("utf-8", "surrogateescape")):
            matched = route
    if matched is None:
        raise WebhookError(401, "authorization", "Unknown token.")
    return matched


def declared_size_ok(request: HttpRequest) -> None:
    """Refuse an oversized body from its Content-Length, before reading a byte of it."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise WebhookError(400, "body", "Content-Length is not a number.") from None
    if declared > MAX_BODY_BYTES:
        raise WebhookError(413, "body", f"The body may be at most {MAX_BODY_BYTES} bytes.")


def idempotency_key(request: HttpRequest) -> str:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return ""
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise WebhookError(
            400, "idempotency_key", f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters."
        )
    return key


def parse(request: HttpRequest) -> ContactPayload:
    """Read and validate the body: a JSON object, or a URL-encoded form, in UTF-8."""
    if request.content_type not in (JSON, FORM):
        raise WebhookError(415, "content_type", f"Send {JSON} or {FORM}.")
    charset = request.content_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise WebhookError(415, "content_type", "The body must be UTF-8.")
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookError(413, "body", f"The body may be at most {MAX_BODY_BYTES} bytes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookError(400, "body", "The body is not valid UTF-8.") from None
    data = _json_object(text) if request.content_type == JSON else _form(text)
    return ContactPayload(
        external_id=_text(data, "external_id", MAX_EXTERNAL_ID, required=True, allow_int=True),
        source_id=_source_id(data),
        name=_text(data, "name", MAX_NAME),
        message=_text(data, "message", MAX_MESSAGE, multiline=True),
    )


def _json_object(text: str) -> dict:
    try:
        data = json.loads(text)
    except RecursionError:
        raise WebhookError(400, "body", "The JSON is nested too deeply.") from None
    except ValueError as exc:
        raise WebhookError(400, "body", f"Malformed JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise WebhookError(400, "body", "The JSON body must be an object.")
    return data


def _form(text: str) -> dict:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=50)
    except UnicodeDecodeError:
        raise WebhookError(400, "body", "The form is not valid UTF-8.") from None
    except ValueError:
        raise WebhookError(400, "body", "The form has too many fields.") from None
    data: dict = {}
    for key, value in pairs:
        if key in data:
            raise WebhookError(400, key, "Given more than once.")
        data[key] = value
    return data


def _text(
    data: dict, field: str, max_length: int, *, required: bool = False, allow_int: bool = False,
    multiline: bool = False,
) -> str:
    value = data.get(field)
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise WebhookError(400, field, "Must be a string.")
    value = value.strip()
    if required and not value:
        raise WebhookError(400, field, "This field is required.")
    if len(value) > max_length:
        raise WebhookError(400, field, f"At most {max_length} characters (got {len(value)}).")
    allowed = "\n\r\t" if multiline else ""
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in value):
        raise WebhookError(400, field, "Control characters and unpaired surrogates are not allowed.")
    return value


def _source_id(data: dict) -> int | None:
    value = data.get("source_id")
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value) < 19:
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise WebhookError(400, "source_id", "Must be a positive integer: the id of the token's source.")
    return value
