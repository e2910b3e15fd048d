"""/api/v1/operators: list, read, create, change (presence and more come here)."""

from datetime import datetime
from typing import Annotated

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_noop
from ninja import Field, FilterLookup, FilterSchema, Query, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict, StrictBool, StrictInt

from crm import services as crm_services
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
    Name,
    errors,
    get_or_404,
)
from integrations.auth import write_key


class OperatorIn(Body):
    name: Name = Field(min_length=1, max_length=OPERATOR_NAME_MAX)
    load_limit: StrictInt = Field(
        DEFAULT_LOAD_LIMIT,
        ge=LOAD_LIMIT_MIN,
        le=LOAD_LIMIT_MAX,
        description=gettext_noop("Most contacts within the load window."),
    )
    is_active: StrictBool = True


class OperatorPatch(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "description": gettext_noop(
                "Any subset of the fields. Declared without `None`: a field may be left out, but not set to null."
            )
        }
    )

    name: Name = Field(None, min_length=1, max_length=OPERATOR_NAME_MAX)
    load_limit: StrictInt = Field(None, ge=LOAD_LIMIT_MIN, le=LOAD_LIMIT_MAX)
    is_active: StrictBool = Field(None)


class OperatorOut(Schema):
    id: int
    name: str
    is_active: bool
    load_limit: int
    load: int = Field(
        description=gettext_noop("Contacts assigned within the load window (LOAD_WINDOW_HOURS) now.")
    )
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
    operator = crm_services.create_operator(**payload.dict())
    return Status(201, Operator.objects.with_load().get(pk=operator.pk))


@router.patch(
    "/{int:operator_id}",
    auth=write_key,
    response={200: OperatorChanged, **errors(400, 403, 404)},
    summary=gettext_noop("Change an operator"),
    description=gettext_noop(
        "Any subset of `name`, `is_active`, `load_limit`. Switching an operator on or raising its "
        "limit routes waiting contacts at once, as in the admin."
    ),
)
def update_operator(request: HttpRequest, operator_id: int, payload: OperatorPatch) -> dict:
    operator = get_or_404(Operator.objects.all(), operator_id, "operator")
    routed = capacity.update_operator(operator=operator, **payload.dict(exclude_unset=True))
    changed = Operator.objects.with_load().get(pk=operator.pk)
    return {**OperatorOut.from_orm(changed).dict(), "waiting_assigned": routed.assigned}
