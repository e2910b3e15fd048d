"""/api/v1/contacts: list, read with the explanation, assign by hand."""

from datetime import date, datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from ninja import Field, FilterLookup, FilterSchema, Query, Router, Schema
from ninja.pagination import paginate
from pydantic import StrictBool, field_validator

from config.errors import json_error
from crm.choices import UnassignedReason
from crm.days import within_days
from crm.models import Contact, Operator
from distribution.manual import AssignmentRefused, assign_manually
from integrations.api.common import NOT_FOUND, Body, Day, Id, LimitOffset, StrictId, errors, get_or_404
from integrations.auth import write_key


class ContactOut(Schema):
    id: int
    lead_id: int
    source_id: int
    operator_id: int | None
    created_at: datetime
    assigned_at: datetime | None
    unassigned_reason: UnassignedReason | None = Field(description="Why nobody took it (null once assigned).")
    message: str

    @staticmethod
    def resolve_unassigned_reason(contact) -> str | None:
        return contact.unassigned_reason or None


class ContactDetail(ContactOut):
    explanation: dict[str, Any] = Field(
        description="What the choice saw: candidates, exclusions, draws, path."
    )


class ContactFilter(FilterSchema):
    source: Annotated[Id | None, FilterLookup("source_id")] = None
    operator: Annotated[Id | None, FilterLookup("operator_id")] = None
    lead: Annotated[Id | None, FilterLookup("lead_id")] = None
    unassigned: bool | None = Field(
        None, description="true: only contacts without an operator; false: only assigned."
    )
    from_: Day | None = Field(None, alias="from", description="From this day on (YYYY-MM-DD, in TIME_ZONE).")
    to: Day | None = Field(None, description="Up to and including this day (YYYY-MM-DD, in TIME_ZONE).")

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


class AssignIn(Body):
    operator_id: StrictId | None = Field(None, description="Give the contact to this operator …")
    route_again: StrictBool = Field(False, description="… or route it again through the weighted draw.")
    override: StrictBool = Field(
        False,
        description="Assign even if the operator is inactive or at the limit (recorded as an override).",
    )


router = Router(tags=["contacts"])


@router.get(
    "", response={200: list[ContactOut], **errors(400)}, summary="List contacts", description="Newest first."
)
@paginate(LimitOffset)
def list_contacts(request: HttpRequest, filters: Query[ContactFilter]) -> QuerySet[Contact]:
    return filters.filter(Contact.objects.defer("explanation"))


@router.get(
    "/{int:contact_id}",
    response={200: ContactDetail, **errors(404)},
    summary="Get a contact with the explanation of its assignment",
)
def get_contact(request: HttpRequest, contact_id: int) -> Contact:
    return get_or_404(Contact.objects.all(), contact_id, "contact")


@router.post(
    "/{int:contact_id}/assign",
    auth=write_key,
    response={200: ContactDetail, **errors(400, 403, 404, 409)},
    summary="Assign a contact by hand, or route it again",
    description='`{"operator_id": 3}` gives it to that operator (refused with 409 if the operator is '
    'inactive or at the limit, unless `"override": true`); `{"route_again": true}` draws again among the '
    "source's other operators (409 when nobody else is free).",
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
