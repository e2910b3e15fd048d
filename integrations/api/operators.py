"""/api/v1/operators: list, read, create, change: the limit, the active flag, presence and time zone, and
the shift now or next (the schedule itself: integrations.api.schedules)."""

from datetime import datetime
from typing import Annotated

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_noop
from ninja import Field, FilterLookup, FilterSchema, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict, StrictBool, StrictInt, StrictStr

from crm import eligibility
from crm.choices import AwayReason, Presence
from crm.models import Operator
from distribution import capacity
from integrations.api.common import (
    DEFAULT_LOAD_LIMIT,
    LOAD_LIMIT_MAX,
    LOAD_LIMIT_MIN,
    OPERATOR_NAME_MAX,
    WAITING_ASSIGNED,
    Body,
    LimitOffset,
    Moment,
    Name,
    errors,
    get_or_404,
)
from integrations.auth import write_key

TIME_ZONE_MAX = Operator._meta.get_field("timezone").max_length


class PresenceIn(Body):
    """Presence and time zone, on creation and in a change alike. `presence` and `timezone` may be left out
    but not set to null; a null reason or return time means none."""

    presence: Presence = Field(
        None, description=gettext_noop("Only `available` operators are given contacts.")
    )
    presence_reason: AwayReason | None = Field(
        None, description=gettext_noop("Why the operator is away: only with `away` (null: none given).")
    )
    presence_until: Moment | None = Field(
        None,
        description=gettext_noop(
            "When the operator is available again by itself: only with `away` or `offline`; ISO 8601 "
            "with an offset (2026-11-23T14:00:00+03:00), in the future."
        ),
    )
    timezone: StrictStr = Field(
        None,
        max_length=TIME_ZONE_MAX,
        description=gettext_noop(
            "The IANA time zone the operator's schedule is written in, such as Europe/Moscow."
        ),
    )


class NewOperator(Body):
    name: Name = Field(min_length=1, max_length=OPERATOR_NAME_MAX)
    load_limit: StrictInt = Field(
        DEFAULT_LOAD_LIMIT,
        ge=LOAD_LIMIT_MIN,
        le=LOAD_LIMIT_MAX,
        description=gettext_noop("Most contacts within the load window."),
    )
    is_active: StrictBool = True


class ChangedOperator(Body):
    name: Name = Field(None, min_length=1, max_length=OPERATOR_NAME_MAX)
    load_limit: StrictInt = Field(None, ge=LOAD_LIMIT_MIN, le=LOAD_LIMIT_MAX)
    is_active: StrictBool = Field(None)


# PresenceIn second among the bases, so that its fields come after the name and the limit in the schema.
class OperatorIn(PresenceIn, NewOperator):
    model_config = ConfigDict(
        json_schema_extra={
            "description": gettext_noop(
                "A new operator: a name; the limit, the active flag, presence and time zone have defaults."
            )
        }
    )


class OperatorPatch(PresenceIn, ChangedOperator):
    model_config = ConfigDict(
        json_schema_extra={
            "description": gettext_noop(
                "Any subset of the fields. Declared without `None`: a field may be left out, but not set to "
                "null (a presence's reason and return time excepted: null is none)."
            )
        }
    )


def changes(payload: Body) -> dict:
    """The fields the client sent, as the services take them: no reason is stored as "" (the model's blank)."""
    sent = payload.dict(exclude_unset=True)
    if "presence_reason" in sent:
        sent["presence_reason"] = sent["presence_reason"] or ""
    return sent


def on_shift_now(operator: Operator) -> bool:
    """From the shift that crm.shifts keeps on the operator's row, as the intake decides it."""
    return eligibility.on_shift(
        scheduled=operator.scheduled,
        starts=operator.shift_starts_at,
        ends=operator.shift_ends_at,
        now=timezone.now(),
    )


class ShiftOut(Schema):
    on_shift: bool = Field(
        description=gettext_noop(
            "On shift now: always without a schedule, else within shift_starts_at–shift_ends_at."
        )
    )
    shift_starts_at: datetime | None = Field(
        description=gettext_noop(
            "The scheduled shift now or next; null without a schedule, or with no shift in sight."
        )
    )
    shift_ends_at: datetime | None

    @staticmethod
    def resolve_on_shift(operator: Operator) -> bool:
        return on_shift_now(operator)


class OperatorFields(Schema):
    id: int
    name: str
    is_active: bool
    load_limit: int
    load: int = Field(
        description=gettext_noop("Contacts assigned within the load window (LOAD_WINDOW_HOURS) now.")
    )
    presence: Presence
    presence_reason: AwayReason | None = Field(
        description=gettext_noop("Only with `away`, when a reason was given.")
    )
    presence_until: datetime | None = Field(
        description=gettext_noop("When the operator is available again by itself.")
    )
    timezone: str = Field(description=gettext_noop("The IANA time zone of the operator's schedule."))

    @staticmethod
    def resolve_presence_reason(operator: Operator) -> str | None:
        return operator.presence_reason or None


class OperatorOut(ShiftOut, OperatorFields):  # OperatorFields' first
    created_at: datetime
    updated_at: datetime


class OperatorChanged(OperatorOut):
    waiting_assigned: int = WAITING_ASSIGNED


class OperatorFilter(FilterSchema):
    active: Annotated[bool | None, FilterLookup("is_active")] = Field(
        None, description=gettext_noop("Only (in)active ones.")
    )


router = Router(tags=["operators"])


@router.get("", response={200: list[OperatorOut], **errors(400)}, summary=gettext_noop("List operators"))
@paginate(LimitOffset)
def list_operators(request: HttpRequest, filters: Query[OperatorFilter]) -> QuerySet[Operator]:
    return filters.filter(Operator.objects.with_load())


@router.get(
    "/{int:operator_id}", response={200: OperatorOut, **errors(404)}, summary=gettext_noop("Get an operator")
)
def get_operator(request: HttpRequest, operator_id: int) -> Operator:
    return get_or_404(Operator.objects.with_load(), operator_id, "operator")


@router.post(
    "",
    auth=write_key,
    response={201: OperatorOut, **errors(400, 403)},
    summary=gettext_noop("Create an operator"),
)
def create_operator(request: HttpRequest, payload: OperatorIn) -> Status[Operator]:
    # Through the service that changes operators, as the admin's add form does: the same presence rules.
    operator = Operator()
    capacity.update_operator(operator=operator, **changes(payload))
    return Status(201, Operator.objects.with_load().get(pk=operator.pk))


@router.patch(
    "/{int:operator_id}",
    auth=write_key,
    response={200: OperatorChanged, **errors(400, 403, 404)},
    summary=gettext_noop("Change an operator"),
    description=gettext_noop(
        "Any subset of `name`, `is_active`, `load_limit`, `presence`, `presence_reason`, `presence_until`, "
        "`timezone`. `available` clears the reason and the return time. Switching an operator on, making it "
        "available or raising its limit routes waiting contacts at once, as in the admin."
    ),
)
def update_operator(request: HttpRequest, operator_id: int, payload: OperatorPatch) -> Operator:
    operator = get_or_404(Operator.objects.all(), operator_id, "operator")
    routed = capacity.update_operator(operator=operator, **changes(payload))
    changed = Operator.objects.with_load().get(pk=operator.pk)
    changed.waiting_assigned = routed.assigned  # read by OperatorChanged with the model's fields
    return changed
