"""The JSON a receiver gets, as a JSON schema (the OpenAPI document's components: integrations.openapi),
with an example of each event type made by the code that makes the real bodies (events.outbox)."""

import uuid
from datetime import UTC, datetime, timedelta

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from crm.choices import AssignmentPath, ContactState, Presence, UnassignedReason
from crm.models import Contact, Operator
from events import outbox
from events.choices import EventType
from events.models import Event

REF = "#/components/schemas/{model}"
TYPES = [*EventType.values, outbox.TEST_EVENT]

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_ID = {"type": ["integer", "null"]}

SCHEMAS = {
    "Event": {
        "title": "Event",
        "type": "object",
        "required": ["id", "type", "created_at", "data"],
        "description": gettext_noop(
            "The body of each delivery (POST to the subscription's URL, signed: Leadflow-Signature). "
            "Receivers deduplicate by `id`: an event may arrive more than once."
        ),
        "properties": {
            "id": {
                "type": "string",
                "format": "uuid",
                "description": gettext_noop("Unique per event; also the Leadflow-Event-Id header."),
            },
            "type": {"type": "string", "enum": TYPES},
            "created_at": {
                "type": "string",
                "format": "date-time",
                "description": gettext_noop("When the change happened (UTC)."),
            },
            "data": {
                "anyOf": [
                    {"$ref": REF.format(model="EventContactData")},
                    {"$ref": REF.format(model="EventPresenceData")},
                    {"type": "object", "properties": {"message": {"type": "string"}}},
                ],
                "description": gettext_noop(
                    "contact.*: the contact and why; operator.presence_changed: the operator before and "
                    "after; leadflow.test: a message."
                ),
            },
        },
    },
    "EventContactData": {
        "title": "EventContactData",
        "type": "object",
        "required": ["contact", "why"],
        "properties": {
            "contact": {
                "type": "object",
                "required": ["id", "external_id", "source_id", "state", "operator_id", "operator_name"],
                "description": gettext_noop("The contact as it stood right after the change."),
                "properties": {
                    "id": {"type": "integer"},
                    "external_id": {
                        "type": "string",
                        "description": gettext_noop("The lead's id in the channel."),
                    },
                    "source_id": {"type": "integer"},
                    "state": {"type": "string", "enum": ContactState.values},
                    "operator_id": {
                        **NULLABLE_ID,
                        "description": gettext_noop("The operator it is given or offered to; null: none."),
                    },
                    "operator_name": NULLABLE_STRING,
                },
            },
            "why": {
                "type": "object",
                "required": ["path", "reason", "by"],
                "properties": {
                    "path": {
                        "type": ["string", "null"],
                        "enum": [*AssignmentPath.values, None],
                        "description": gettext_noop("How the operator was chosen (the explanation's path)."),
                    },
                    "reason": {
                        "type": ["string", "null"],
                        "enum": [*UnassignedReason.values, None],
                        "description": gettext_noop("Why it waits without an operator."),
                    },
                    "by": {
                        **NULLABLE_STRING,
                        "description": gettext_noop("Who made the change: a user name, api:<key name>, …"),
                    },
                },
            },
        },
    },
    "EventPresenceData": {
        "title": "EventPresenceData",
        "type": "object",
        "required": ["operator", "previous"],
        "properties": {
            "operator": {
                "type": "object",
                "required": ["id", "name", "presence", "presence_reason", "presence_until"],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "presence": {"type": "string", "enum": Presence.values},
                    "presence_reason": NULLABLE_STRING,
                    "presence_until": {"type": ["string", "null"], "format": "date-time"},
                },
            },
            "previous": {
                "type": "object",
                "description": gettext_noop("The presence before the change."),
                "properties": {
                    "presence": {"type": "string", "enum": Presence.values},
                    "presence_reason": NULLABLE_STRING,
                    "presence_until": {"type": ["string", "null"], "format": "date-time"},
                },
            },
        },
    },
}

AT = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)

# Each contact event's example: the contact's state, operator, path or reason and who, as it is sent.
CONTACT_EXAMPLES = {
    EventType.CONTACT_ASSIGNED: (ContactState.ASSIGNED, True, AssignmentPath.DRAW, "", "webhook"),
    EventType.CONTACT_OFFERED: (ContactState.OFFERED, True, AssignmentPath.DRAW, "", "webhook"),
    EventType.CONTACT_OFFER_EXPIRED: (
        ContactState.WAITING,
        False,
        "",
        UnassignedReason.NOBODY_ACCEPTED,
        "worker",
    ),
    EventType.CONTACT_OFFER_DECLINED: (ContactState.OFFERED, True, AssignmentPath.REOFFER, "", "anna"),
    EventType.CONTACT_ACCEPTED: (ContactState.ACCEPTED, True, AssignmentPath.DRAW, "", "anna"),
    EventType.CONTACT_CLOSED: (ContactState.CLOSED, True, AssignmentPath.DRAW, "", "anna"),
    EventType.CONTACT_REOPENED: (ContactState.ASSIGNED, True, AssignmentPath.MANUAL, "", "supervisor"),
    EventType.CONTACT_WAITING: (ContactState.WAITING, False, "", UnassignedReason.ALL_AT_LIMIT, "webhook"),
}


def example(event_type: str) -> dict:
    """The body of an event of this type, as events.outbox makes it for a delivery."""
    if event_type == EventType.OPERATOR_PRESENCE_CHANGED:
        before = Operator(pk=3, name="Anna", presence=Presence.AVAILABLE)
        after = Operator(
            pk=3,
            name="Anna",
            presence=Presence.AWAY,
            presence_reason="lunch",
            presence_until=AT + timedelta(hours=1),
        )
        subject, data = "operator:3", outbox.presence_data(before, after)
    elif event_type == outbox.TEST_EVENT:
        subject, data = "test:5f0c2a9e81b4", outbox.TEST_DATA
    else:
        state, given, path, reason, by = CONTACT_EXAMPLES[event_type]
        contact = Contact(
            pk=12,
            source_id=1,
            state=state,
            operator_id=3 if given else None,
            unassigned_reason=reason,
            explanation={"path": path, "by": by} if path else {"by": by},
        )
        subject = "contact:12"
        data = outbox.contact_data(contact, external_id="tg-100500", operator_name="Anna" if given else None)
    event = Event(
        public_id=uuid.uuid5(uuid.NAMESPACE_URL, f"leadflow-example:{event_type}"),
        type=event_type,
        created_at=AT,
        subject=subject,
        data=data,
    )
    return outbox.body(event)


# Each example's summary says what the type means (the type's label, in the reader's language).
SUMMARIES = {
    **{kind.value: kind.label for kind in EventType},
    outbox.TEST_EVENT: _("a test event, sent on request to one subscription"),
}


def examples() -> dict[str, dict]:
    """components.examples: one per type, named by it."""
    return {name.replace(".", "_"): {"summary": SUMMARIES[name], "value": example(name)} for name in TYPES}
