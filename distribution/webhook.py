"""The webhook's contract: who is calling (bearer token) and what they sent (JSON or a form), strictly checked.

Everything here answers a client mistake with a WebhookError (status, field, message); nothing a client
sends can reach the database unchecked. Field names stay English; the messages are translated into the
request's language (LocaleMiddleware: Accept-Language), so they are built per request, never at import.
"""

import json
import math
import shlex
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

import pydantic_core
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_noop, pgettext
from ninja import Field, Schema
from pydantic import ConfigDict

from config.errors import unreadable_json
from crm.choices import ContactState, UnassignedReason
from crm.models import Contact, Lead, Skill
from crm.secrets import token_digest
from crm.services import skills_named
from distribution.routes import Route, known_route, memory, route_for_token_digest

# The contract's one definition: the URLconf, the WSGI entry (its short middleware stack), the OpenAPI
# document and the nginx configuration (checked by a test) all read these.
PATH = "/api/contacts/"
PATHS = frozenset({PATH, PATH.rstrip("/")})  # without the slash too: a POST cannot follow APPEND_SLASH
MAX_BODY_BYTES = 64 * 1024
MAX_IDEMPOTENCY_KEY = Contact._meta.get_field("idempotency_key").max_length
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class WebhookError(Exception):
    def __init__(
        self, status: int, field: str, message: str, *, errors: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message
        self.errors = errors or {field: [message]}


class Text(forms.CharField):
    """A string field with the model field's rules (length, no control characters); a JSON value of another
    type is refused instead of being turned into its str() (a list is not a name)."""

    def __init__(self, model_field, *, allow_int: bool = False, required: bool = False):
        self.allow_int = allow_int
        rules = [v for v in model_field.validators if not isinstance(v, MaxLengthValidator)]
        super().__init__(required=required, max_length=model_field.max_length, validators=rules)

    def to_python(self, value):
        if self.allow_int and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            raise ValidationError(gettext("Must be a string."))
        return super().to_python(value)


class SourceId(forms.Field):
    def to_python(self, value) -> int | None:
        if value in (None, ""):
            return None
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value) < 19:
            value = int(value.strip())
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValidationError(gettext("Must be a positive integer: the id of the token's source."))
        return value


class SkillNames(forms.Field):
    """The skills a contact asks for: a JSON list of names (a form sends them comma-separated), each a
    skill's name as the model allows it; whether they exist is checked against the skills (known_skills)."""

    MAX = 20

    def to_python(self, value) -> tuple[str, ...]:
        if value in (None, ""):
            return ()
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if not isinstance(value, list) or not all(isinstance(name, str) and name for name in value):
            raise ValidationError(gettext("Must be a list of skill names."))
        if len(value) > self.MAX:
            raise ValidationError(gettext("At most %(count)d skills.") % {"count": self.MAX})
        name_field = Skill._meta.get_field("name")
        for name in value:
            if len(name) > name_field.max_length:
                raise ValidationError(gettext("Unknown skills: %(names)s.") % {"names": name[:40]})
        return tuple(sorted(set(value)))


class ContactForm(forms.Form):
    """The webhook's fields, declared once; lengths are the model fields'."""

    external_id = Text(Lead._meta.get_field("external_id"), allow_int=True, required=True)
    source_id = SourceId(required=False)
    name = Text(Lead._meta.get_field("name"))
    message = Text(Contact._meta.get_field("message"))
    skills = SkillNames(required=False)


class WebhookReceipt(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "description": gettext_noop(
                "The webhook's answer (201, or 200 for a replay): the stored contact, and whom it went to or "
                "why not."
            )
        }
    )

    contact_id: int
    lead_id: int
    source_id: int
    assigned_operator: int | None = Field(
        description=gettext_noop(
            "The operator it went to: assigned (state `assigned`) or offered until `offer_expires_at` "
            "(state `offered`, sources that make offers); null when it waits."
        )
    )
    state: ContactState = Field(
        description=gettext_noop("`assigned`, `offered` or `waiting` (later: `accepted`, `closed`).")
    )
    offer_expires_at: datetime | None = Field(
        description=gettext_noop("While offered: when the offer passes to the next operator unless accepted.")
    )
    unassigned_reason: UnassignedReason | None = Field(
        description=gettext_noop("Why nobody took it (the contact is stored either way).")
    )

    @classmethod
    def of(cls, contact: Contact) -> dict:
        """The receipt's JSON object, written directly from the stored contact: run through the schema (a
        validation of values the intake has just written), it cost every contact some 90 µs. The schema
        stays the contract (the OpenAPI document); a test holds the object to it."""
        return {
            "contact_id": contact.pk,
            "lead_id": contact.lead_id,
            "source_id": contact.source_id,
            "assigned_operator": contact.operator_id,
            "state": ContactState(contact.state).value,
            "offer_expires_at": pydantic_core.to_jsonable_python(contact.offer_expires_at),
            "unassigned_reason": UnassignedReason(contact.unassigned_reason).value
            if contact.unassigned_reason
            else None,
        }


@dataclass(frozen=True)
class ContactPayload:
    external_id: str
    source_id: int | None = None
    name: str = ""
    message: str = ""
    skills: tuple[str, ...] = ()


def caller(request: HttpRequest) -> tuple[Route, bool]:
    """The route (source and operators) of the token the request bears, and whether it was read just now.

    A token this worker has met before is not looked up again here: its last route is assumed (False),
    and the token check rides along with the contact's first statements (routes.known_route); a token
    met for the first time costs one lookup by its digest (True). Comparing digests through an index
    leaks nothing useful by timing: a guess's digest shares no prefix with the real one's any more than a
    random string does.
    """
    scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise WebhookError(
            401, "authorization", gettext("Send the source's token as 'Authorization: Bearer <token>'.")
        )
    digest = token_digest(presented)
    if (route := known_route(digest)) is not None:
        return route, False
    return confirm(digest), True


def confirm(digest: str) -> Route:
    """The route of the token with this digest, read now; 401 when the token is nobody's."""
    route = route_for_token_digest(digest)
    if route is None:
        raise WebhookError(401, "authorization", gettext("Unknown token."))
    return route


def declared_size_ok(request: HttpRequest) -> None:
    """Refuse a body the app cannot read whole, before reading a byte of it: oversized by its
    Content-Length, sent chunked without one (a WSGI app would read it as empty and lose the contact), or
    compressed (the app does not decode Content-Encoding)."""
    if request.META.get("HTTP_TRANSFER_ENCODING", "identity").lower() != "identity" and not request.META.get(
        "CONTENT_LENGTH"
    ):
        raise WebhookError(
            411, "body", gettext("Send the body with a Content-Length header (chunked bodies are not read).")
        )
    if request.META.get("HTTP_CONTENT_ENCODING", "identity").lower() != "identity":
        raise WebhookError(
            415, "content_encoding", gettext("Send the body uncompressed (no Content-Encoding).")
        )
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise WebhookError(400, "body", gettext("Content-Length is not a number.")) from None
    if declared > MAX_BODY_BYTES:
        raise WebhookError(413, "body", too_large())


def too_large() -> str:
    return gettext("The body may be at most %(bytes)d bytes.") % {"bytes": MAX_BODY_BYTES}


def idempotency_key(request: HttpRequest) -> str:
    key = request.META.get("HTTP_IDEMPOTENCY_KEY")
    if key is None:
        return ""
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise WebhookError(
            400,
            "idempotency_key",
            gettext("Idempotency-Key must be 1 to %(max)d printable characters.")
            % {"max": MAX_IDEMPOTENCY_KEY},
        )
    return key


def parse(request: HttpRequest) -> ContactPayload:
    """Read and validate the body: a JSON object, or a URL-encoded form, in UTF-8."""
    if request.content_type not in (JSON, FORM):
        raise WebhookError(
            415, "content_type", gettext("Send %(json)s or %(form)s.") % {"json": JSON, "form": FORM}
        )
    charset = request.content_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise WebhookError(415, "content_type", gettext("The body must be UTF-8."))
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookError(413, "body", too_large())
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookError(400, "body", gettext("The body is not valid UTF-8.")) from None
    return _validated(_json_object(text) if request.content_type == JSON else _form(text))


def _validated(data: dict) -> ContactPayload:
    """The body's fields cleaned by ContactForm's declared fields, or a 400 naming each field refused.

    The fields hold no state, so they are used as declared; binding a ContactForm would deep-copy them
    for every request (what Form.full_clean does besides is for rendering a form)."""
    cleaned, errors = {}, {}
    for name, field in ContactForm.base_fields.items():
        try:
            cleaned[name] = field.clean(data.get(name))
        except ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        field = next(iter(errors))
        raise WebhookError(400, field, errors[field][0], errors=errors)
    return ContactPayload(**cleaned)


def known_skills(names: tuple[str, ...]) -> None:
    """422 naming every skill that does not exist. Names this worker found recently are not read again
    (routes.memory.skills): a contact asking for skills costs a query only now and then."""
    now = time.monotonic()
    unsure = [
        name for name in names if now - memory.skills.get(name, now - math.inf) >= memory.SKILLS_FRESH_FOR
    ]
    if not unsure:
        return
    try:
        skills_named(unsure)
    except ValidationError as exc:
        raise WebhookError(422, "skills", exc.message_dict["skills"][0]) from None
    memory.skills.update(dict.fromkeys(unsure, now))


def _json_object(text: str) -> dict:
    try:
        data = json.loads(text)
    except (RecursionError, ValueError) as exc:
        raise WebhookError(400, "body", unreadable_json(exc)) from None
    if not isinstance(data, dict):
        raise WebhookError(400, "body", gettext("The JSON body must be an object."))
    return data


def _form(text: str) -> dict:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=50)
    except UnicodeDecodeError:
        raise WebhookError(400, "body", gettext("The form is not valid UTF-8.")) from None
    except ValueError:
        raise WebhookError(400, "body", gettext("The form has too many fields.")) from None
    data: dict = {}
    for key, value in pairs:
        if key in data:
            raise WebhookError(400, key, gettext("Given more than once."))
        data[key] = value
    return data


def example_request(url: str, token: str) -> str:
    """A ready request for a channel's developers (the admin's source page, seed_demo's output), as the README's
    example: curl posting one contact, its sample name and message in the active language (the body JSON in
    UTF-8, shell-quoted)."""
    body = {
        "external_id": "user123",
        "name": pgettext("a customer's name in the example request", "Ivan"),
        "message": pgettext("a customer's message in the example request", "Please call me back"),
    }
    return "\n".join(
        [
            f"curl -sS -X POST {shlex.quote(url)} \\",
            f'  -H "Authorization: Bearer {token}" \\',
            "  -H 'Content-Type: application/json' \\",
            "  -H 'Idempotency-Key: delivery-8f14e45f' \\",
            f"  -d {shlex.quote(json.dumps(body, ensure_ascii=False))}",
        ]
    )
