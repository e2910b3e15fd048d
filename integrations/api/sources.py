"""/api/v1/sources: list, read with the dashboard's figures, create (its token shown once), replace the weights."""

from collections import Counter
from datetime import datetime

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import StrictBool, StrictInt, field_validator

from crm import selectors
from crm import services as crm_services
from crm.choices import UnassignedReason
from crm.models import Source, SourceOperatorWeight
from distribution import capacity
from integrations.api.common import (
    NOT_FOUND,
    SOURCE_NAME_MAX,
    WAITING_ASSIGNED,
    WEIGHT_MAX,
    WEIGHT_MIN,
    Body,
    LimitOffset,
    Name,
    StrictId,
    errors,
    get_or_404,
)
from integrations.auth import write_key


class SourceIn(Body):
    name: Name = Field(min_length=1, max_length=SOURCE_NAME_MAX)
    keep_operator: StrictBool = Field(
        False, description="Returning leads go back to their operator if possible."
    )


class SourceOut(Schema):
    id: int
    name: str
    keep_operator: bool
    token_prefix: str = Field(
        description="The webhook token's first characters (the token itself is not stored)."
    )
    created_at: datetime
    updated_at: datetime


class SourceCreated(SourceOut):
    token: str = Field(
        description="The webhook token, shown only this once: channels send it as a Bearer token."
    )


class WeightIn(Body):
    operator_id: StrictId
    weight: StrictInt = Field(ge=WEIGHT_MIN, le=WEIGHT_MAX)


class WeightsIn(Body):
    weights: list[WeightIn] = Field(description="The whole new set; operators left out are removed.")

    @field_validator("weights")
    @classmethod
    def no_duplicates(cls, weights: list[WeightIn]) -> list[WeightIn]:
        twice = sorted(op for op, n in Counter(w.operator_id for w in weights).items() if n > 1)
        if twice:
            raise ValueError(
                gettext("Each operator may appear once; listed more than once: %(operators)s.")
                % {"operators": twice}
            )
        return weights


class WeightOut(Schema):
    operator_id: int
    weight: int


class OperatorShareOut(Schema):
    """One operator of a source: configured share of the weight against actual share in the window."""

    operator_id: int
    name: str
    weight: int = Field(description="0 when the operator got contacts but is no longer one of the source's.")
    weight_share: float = Field(description="Percent of the source's total weight.")
    contacts: int = Field(description="Contacts of the source assigned to the operator in the window.")
    actual_share: float = Field(description="Percent of the source's assigned contacts in the window.")


class WaitingOut(Schema):
    count: int = Field(description="Contacts waiting for an operator.")
    oldest: datetime | None = Field(description="When the longest-waiting one arrived.")
    past_max_age: int = Field(description="Waiting longer than UNASSIGNED_MAX_AGE_HOURS: left for a person.")


class SourceFigures(Schema):
    """The dashboard's figures for one source, now."""

    assigned: int = Field(description="The source's contacts assigned within the load window.")
    free: int = Field(
        description="Free slots now: limit minus load, over the source's operators who can take contacts now "
        "(switched on, on shift, available)."
    )
    blocked: UnassignedReason | None = Field(
        description="Why nobody can take the source's contacts now (null when someone can)."
    )
    waiting: WaitingOut
    operators: list[OperatorShareOut]


class SourceDetail(SourceFigures, SourceOut):  # SourceOut's fields first
    weights: list[WeightOut] = Field(description="The configured set, as PUT .../weights takes it.")


class SourceChanged(SourceDetail):
    waiting_assigned: int = WAITING_ASSIGNED


router = Router(tags=["sources"])


@router.get("", response={200: list[SourceOut], **errors(400)}, summary="List sources")
@paginate(LimitOffset)
def list_sources(request: HttpRequest) -> QuerySet[Source]:
    return Source.objects.all()


@router.get("/{int:source_id}", response={200: SourceDetail, **errors(404)}, summary="Get a source")
def get_source(request: HttpRequest, source_id: int) -> dict:
    return source_detail(get_or_404(Source.objects.all(), source_id, "source"))


@router.post(
    "",
    auth=write_key,
    response={201: SourceCreated, **errors(400, 403)},
    summary="Create a source",
    description="Answers with the webhook `token`, shown only this once (only its digest is stored).",
)
def create_source(request: HttpRequest, payload: SourceIn) -> Status[Source]:
    source, _token = crm_services.create_source(**payload.dict())
    return Status(201, source)  # source.token holds the new token


@router.put(
    "/{int:source_id}/weights",
    auth=write_key,
    response={200: SourceChanged, **errors(400, 403, 404)},
    summary="Replace a source's weights",
    description="The whole set at once, atomically: every operator must exist, each once, with a weight of "
    "at least 1; operators left out stop receiving the source's contacts. An empty list removes them all.",
)
def set_weights(request: HttpRequest, source_id: int, payload: WeightsIn) -> dict:
    source = get_or_404(Source.objects.all(), source_id, "source")
    try:
        routed = capacity.set_weights(
            source=source, weights={w.operator_id: w.weight for w in payload.weights}
        )
    except Source.DoesNotExist:  # deleted since it was found
        raise Http404(NOT_FOUND["source"] % {"id": source_id}) from None
    return {**source_detail(source), "waiting_assigned": routed.assigned}


def source_detail(source: Source) -> dict:
    """The source with its configured weights and the dashboard's figures for it (404 once it is gone)."""
    overview = selectors.source_overview(now=timezone.now(), source_id=source.pk)
    if overview is None:  # deleted since it was found
        raise Http404(NOT_FOUND["source"] % {"id": source.pk})
    return {
        **SourceOut.from_orm(source).dict(),
        **source_figures(overview),
        "weights": list(SourceOperatorWeight.objects.filter(source=source).values("operator_id", "weight")),
    }


def source_figures(overview: selectors.SourceOverview) -> dict:
    return {
        "assigned": overview.assigned,
        "free": overview.free,
        "blocked": overview.blocked or None,
        "waiting": waiting_figures(overview.waiting),
        "operators": [
            {
                "operator_id": row.operator.pk,
                "name": row.operator.name,
                "weight": row.weight,
                "weight_share": row.weight_share,
                "contacts": row.contacts,
                "actual_share": row.actual_share,
            }
            for row in overview.rows
        ],
    }


def waiting_figures(waiting: selectors.Waiting) -> dict:
    return {"count": waiting.count, "oldest": waiting.oldest, "past_max_age": waiting.too_old}
