"""/api/v1/contacts: list, read with the explanation and the offers, assign by hand; accept, decline, close
(an operator app acting for its operator), withdraw an offer and reopen (supervisors)."""

from datetime import date, datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext, gettext_noop
from ninja import Field, FilterLookup, FilterSchema, Query, Router, Schema
from ninja.pagination import paginate
from pydantic import StrictBool, field_validator

from config.errors import json_error
from crm.choices import ContactState, OfferOutcome, UnassignedReason
from crm.days import within_days
from crm.models import Contact, Operator
from distribution import offers
from distribution.manual import AssignmentRefused, assign_manually
from integrations.api.common import NOT_FOUND, Body, Day, Id, LimitOffset, StrictId, errors, get_or_404
from integrations.auth import write_key

OUTCOME_MAX = Contact._meta.get_field("outcome").max_length


class ContactOut(Schema):
    id: int
    lead_id: int
    source_id: int
    operator_id: int | None
    created_at: datetime
    assigned_at: datetime | None
    unassigned_reason: UnassignedReason | None = Field(
        description=gettext_noop("Why nobody took it (null once assigned).")
    )
    state: ContactState = Field(
        description=gettext_noop("waiting, offered, accepted, assigned (directly, no offer) or closed.")
    )
    offer_expires_at: datetime | None = Field(
        description=gettext_noop("While offered: when the offer passes to the next operator unless accepted.")
    )
    accepted_at: datetime | None
    closed_at: datetime | None
    outcome: str = Field(description=gettext_noop("The operator's note on closing."))
    message: str

    @staticmethod
    def resolve_unassigned_reason(contact) -> str | None:
        return contact.unassigned_reason or None


class OfferOut(Schema):
    operator_id: int
    offered_at: datetime
    ended_at: datetime | None
    outcome: OfferOutcome = Field(
        description=gettext_noop("pending, accepted, declined, expired or withdrawn (by a supervisor).")
    )


class ContactDetail(ContactOut):
    explanation: dict[str, Any] = Field(
        description=gettext_noop("What the choice saw: candidates, exclusions, draws, path.")
    )
    offers: list[OfferOut] = Field(description=gettext_noop("Every offer of the contact, in order."))

    @staticmethod
    def resolve_offers(contact) -> list:
        return list(contact.offers.order_by("id"))


class ContactFilter(FilterSchema):
    source: Annotated[Id | None, FilterLookup("source_id")] = None
    operator: Annotated[Id | None, FilterLookup("operator_id")] = None
    lead: Annotated[Id | None, FilterLookup("lead_id")] = None
    unassigned: bool | None = Field(
        None, description=gettext_noop("true: only contacts without an operator; false: only assigned.")
    )
    state: ContactState | None = Field(None, description=gettext_noop("Only contacts in this state."))
    from_: Day | None = Field(
        None, alias="from", description=gettext_noop("From this day on (YYYY-MM-DD, in TIME_ZONE).")
    )
    to: Day | None = Field(
        None, description=gettext_noop("Up to and including this day (YYYY-MM-DD, in TIME_ZONE).")
    )

    @field_validator("to")
    @classmethod
    def not_before_from(cls, to: date | None, info) -> date | None:
        start = info.data.get("from_")
        if to is not None and start is not None and to < start:
            raise ValueError(gettext("Must not be before 'from'."))
        return to

    def filter_unassigned(self, value: bool | None) -> Q:
        return Q() if value is None else Q(operator__isnull=value)

    def filter_from_(self, value: date | None) -> Q:
        return within_days("created_at", start=value)

    def filter_to(self, value: date | None) -> Q:
        return within_days("created_at", end=value)


class ForOperator(Body):
    operator_id: StrictId = Field(description=gettext_noop("The operator the app acts for."))


class CloseIn(ForOperator):
    outcome: str = Field(
        "", max_length=OUTCOME_MAX, description=gettext_noop("A short note on how it ended.")
    )


class AssignIn(Body):
    operator_id: StrictId | None = Field(
        None, description=gettext_noop("Give the contact to this operator …")
    )
    route_again: StrictBool = Field(
        False, description=gettext_noop("… or route it again through the weighted draw.")
    )
    override: StrictBool = Field(
        False,
        description=gettext_noop(
            "Assign even if the operator is inactive or at the limit (recorded as an override)."
        ),
    )


router = Router(tags=["contacts"])


@router.get(
    "",
    response={200: list[ContactOut], **errors(400)},
    summary=gettext_noop("List contacts"),
    description=gettext_noop("Newest first."),
)
@paginate(LimitOffset)
def list_contacts(request: HttpRequest, filters: Query[ContactFilter]) -> QuerySet[Contact]:
    return filters.filter(Contact.objects.defer("explanation"))


@router.get(
    "/{int:contact_id}",
    response={200: ContactDetail, **errors(404)},
    summary=gettext_noop("Get a contact with the explanation of its assignment"),
)
def get_contact(request: HttpRequest, contact_id: int) -> Contact:
    return get_or_404(Contact.objects.all(), contact_id, "contact")


@router.post(
    "/{int:contact_id}/assign",
    auth=write_key,
    response={200: ContactDetail, **errors(400, 403, 404, 409)},
    summary=gettext_noop("Assign a contact by hand, or route it again"),
    description=gettext_noop(
        '`{"operator_id": 3}` gives it to that operator (refused with 409 if the operator is '
        'inactive or at the limit, unless `"override": true`); `{"route_again": true}` draws again among the '
        "source's other operators (409 when nobody else is free)."
    ),
)
def assign_by_hand(request: HttpRequest, contact_id: int, payload: AssignIn) -> Contact:
    contact = get_or_404(Contact.objects.all(), contact_id, "contact")
    if (payload.operator_id is None) == (not payload.route_again):
        raise DjangoValidationError(
            {"operator_id": gettext('Send either an operator_id or "route_again": true.')}
        )
    operator = None
    if payload.operator_id is not None:
        operator = Operator.objects.filter(pk=payload.operator_id).first()
        if operator is None:
            raise DjangoValidationError({"operator_id": NOT_FOUND["operator"] % {"id": payload.operator_id}})
    try:
        assign_manually(
            contact=contact, operator=operator, by=f"api:{request.auth.name}", override=payload.override
        )
    except AssignmentRefused as exc:
        if operator is None:
            return json_error(409, "route_again", str(exc))
        return json_error(
            409, "operator_id", gettext('%(refusal)s (API: send "override": true.)') % {"refusal": exc}
        )
    return Contact.objects.get(pk=contact.pk)


def _act(request: HttpRequest, contact_id: int, action, **fields) -> Contact | HttpResponse:
    """Run an offer action; a late or foreign one answers 409 naming `offer`, one the state forbids 409
    naming `state`."""
    get_or_404(Contact.objects.all(), contact_id, "contact")
    try:
        contact = action(contact_id=contact_id, **fields)
    except offers.OfferExpired as exc:
        return json_error(409, "offer", str(exc))
    except offers.NotAllowed as exc:
        return json_error(409, "state", str(exc))
    return Contact.objects.get(pk=contact.pk)


@router.post(
    "/{int:contact_id}/accept",
    auth=write_key,
    response={200: ContactDetail, **errors(400, 403, 404, 409)},
    summary=gettext_noop("Accept an offer (for its operator)"),
    description=gettext_noop(
        "The operator takes the contact offered to them. Accepting again is harmless; after the deadline, "
        "after the contact moved on, or for another operator: 409 “This offer has expired.”"
    ),
)
def accept(request: HttpRequest, contact_id: int, payload: ForOperator):
    return _act(
        request, contact_id, offers.accept, operator_id=payload.operator_id, by=f"api:{request.auth.name}"
    )


@router.post(
    "/{int:contact_id}/decline",
    auth=write_key,
    response={200: ContactDetail, **errors(400, 403, 404, 409)},
    summary=gettext_noop("Decline an offer (for its operator)"),
    description=gettext_noop(
        "The contact is offered at once to the next operator, or waits (nobody_accepted). Late or foreign: 409."
    ),
)
def decline(request: HttpRequest, contact_id: int, payload: ForOperator):
    return _act(
        request, contact_id, offers.decline, operator_id=payload.operator_id, by=f"api:{request.auth.name}"
    )


@router.post(
    "/{int:contact_id}/close",
    auth=write_key,
    response={200: ContactDetail, **errors(400, 403, 404, 409)},
    summary=gettext_noop("Close a contact (for its operator)"),
    description=gettext_noop(
        "Handled: closed, with an optional `outcome` note. Only the contact's operator, once it is accepted "
        "or assigned (409 otherwise); closing again changes nothing."
    ),
)
def close(request: HttpRequest, contact_id: int, payload: CloseIn):
    return _act(request, contact_id, offers.close, operator_id=payload.operator_id, outcome=payload.outcome)


@router.post(
    "/{int:contact_id}/withdraw",
    auth=write_key,
    response={200: ContactDetail, **errors(400, 403, 404, 409)},
    summary=gettext_noop("Withdraw a pending offer and route the contact again"),
)
def withdraw(request: HttpRequest, contact_id: int):
    return _act(request, contact_id, offers.withdraw, by=f"api:{request.auth.name}")


@router.post(
    "/{int:contact_id}/reopen",
    auth=write_key,
    response={200: ContactDetail, **errors(400, 403, 404, 409)},
    summary=gettext_noop("Reopen a closed contact"),
)
def reopen(request: HttpRequest, contact_id: int):
    return _act(request, contact_id, offers.reopen)
