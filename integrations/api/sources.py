"""/api/v1/sources: list, read with the dashboard's figures, create (its token shown once), replace the weights."""

from collections import Counter
from datetime import datetime
from typing import Annotated

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict, StrictBool, StrictInt, field_validator

from crm import selectors
from crm import services as crm_services
from crm.choices import Strategy, UnassignedReason
from crm.history import one_entry
from crm.models import Source, SourceOperatorWeight
from crm.validators import bounds
from distribution import capacity
from integrations.api.common import (
    NOT_FOUND,
    SKILL_NAME_MAX,
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

ACCEPT_MIN, ACCEPT_MAX = bounds(Source, "accept_within_seconds")
MISSED_MIN, MISSED_MAX = bounds(Source, "missed_offers_before_away")
DEFAULT_MISSED = Source._meta.get_field("missed_offers_before_away").default


RELAX_MIN, RELAX_MAX = bounds(Source, "relax_preferred_after_seconds")


AcceptWithin = Annotated[StrictInt, Field(ge=ACCEPT_MIN, le=ACCEPT_MAX)]
MissedOffers = Annotated[StrictInt, Field(ge=MISSED_MIN, le=MISSED_MAX)]
RelaxAfter = Annotated[StrictInt, Field(ge=RELAX_MIN, le=RELAX_MAX)]
SkillList = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=SKILL_NAME_MAX)]], Field(max_length=50)
]
STRATEGY_HELP = gettext_noop(
    "`weighted` (a draw by weight), `round_robin` (whoever was given one of this source's contacts longest "
    "ago; weights ignored except that operators without one are not the source's) or `least_loaded` (the "
    "lowest load as a share of the limit); ties are broken at random."
)
REQUIRED_HELP = gettext_noop("Skill names every operator taking the source's contacts must hold.")
PREFERRED_HELP = gettext_noop(
    "Skill names preferred: while an operator holding them can take a contact, the choice is among them."
)
RELAX_HELP = gettext_noop(
    "Seconds after which a contact is routed among everyone with the required skills; null: never."
)


class SourceIn(Body):
    name: Name = Field(min_length=1, max_length=SOURCE_NAME_MAX)
    keep_operator: StrictBool = Field(
        False, description=gettext_noop("Returning leads go back to their operator if possible.")
    )
    accept_within_seconds: AcceptWithin | None = Field(
        None,
        description=gettext_noop(
            "null: contacts are assigned at once. Seconds: each contact is offered to the drawn operator, "
            "who must accept it in time, or it is offered to the next one."
        ),
    )
    missed_offers_before_away: MissedOffers = Field(
        DEFAULT_MISSED,
        description=gettext_noop("Offers let expire in a row before the operator is set away; 0: never."),
    )
    strategy: Strategy = Field(Strategy.WEIGHTED, description=STRATEGY_HELP)
    required_skills: SkillList = Field([], description=REQUIRED_HELP)
    preferred_skills: SkillList = Field([], description=PREFERRED_HELP)
    relax_preferred_after_seconds: RelaxAfter | None = Field(None, description=RELAX_HELP)


class SourcePatch(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "description": gettext_noop(
                "Any subset of the fields. `accept_within_seconds` and `relax_preferred_after_seconds` may be "
                "null; the others may not."
            )
        }
    )

    name: Name = Field(None, min_length=1, max_length=SOURCE_NAME_MAX)
    keep_operator: StrictBool = Field(None)
    accept_within_seconds: AcceptWithin | None = Field(None)
    missed_offers_before_away: MissedOffers = Field(None)
    strategy: Strategy = Field(None, description=STRATEGY_HELP)
    required_skills: SkillList = Field(None, description=REQUIRED_HELP)
    preferred_skills: SkillList = Field(None, description=PREFERRED_HELP)
    relax_preferred_after_seconds: RelaxAfter | None = Field(None, description=RELAX_HELP)


class SourceOut(Schema):
    id: int
    name: str
    keep_operator: bool
    accept_within_seconds: int | None = Field(description=gettext_noop("null: no offers."))
    missed_offers_before_away: int
    strategy: Strategy = Field(description=STRATEGY_HELP)
    required_skills: list[str] = Field(description=REQUIRED_HELP)
    preferred_skills: list[str] = Field(description=PREFERRED_HELP)
    relax_preferred_after_seconds: int | None = Field(description=RELAX_HELP)
    token_prefix: str = Field(
        description=gettext_noop("The webhook token's first characters (the token itself is not stored).")
    )
    created_at: datetime
    updated_at: datetime

    # Read from the source, or kept from a dict already made of it (source_detail's answer is checked again).
    @staticmethod
    def resolve_required_skills(source: Source | dict) -> list[str]:
        return skill_names(source, "required_skills")

    @staticmethod
    def resolve_preferred_skills(source: Source | dict) -> list[str]:
        return skill_names(source, "preferred_skills")


def skill_names(source: Source | dict, kind: str) -> list[str]:
    if isinstance(source, dict):
        return source[kind]
    return sorted(skill.name for skill in getattr(source, kind).all())


class SourceCreated(SourceOut):
    token: str = Field(
        description=gettext_noop(
            "The webhook token, shown only this once: channels send it as a Bearer token."
        )
    )


class WeightIn(Body):
    operator_id: StrictId
    weight: StrictInt = Field(ge=WEIGHT_MIN, le=WEIGHT_MAX)


class WeightsIn(Body):
    weights: list[WeightIn] = Field(
        description=gettext_noop("The whole new set; operators left out are removed.")
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "description": gettext_noop(
                "One operator of a source: configured share of the weight against actual share in the window."
            )
        }
    )

    operator_id: int
    name: str
    weight: int = Field(
        description=gettext_noop("0 when the operator got contacts but is no longer one of the source's.")
    )
    weight_share: float = Field(description=gettext_noop("Percent of the source's total weight."))
    contacts: int = Field(
        description=gettext_noop("Contacts of the source assigned to the operator in the window.")
    )
    actual_share: float = Field(
        description=gettext_noop("Percent of the source's assigned contacts in the window.")
    )


class WaitingOut(Schema):
    count: int = Field(description=gettext_noop("Contacts waiting for an operator."))
    oldest: datetime | None = Field(description=gettext_noop("When the longest-waiting one arrived."))
    past_max_age: int = Field(
        description=gettext_noop("Waiting longer than UNASSIGNED_MAX_AGE_HOURS: left for a person.")
    )


class SourceFigures(Schema):
    """The dashboard's figures for one source, now."""

    assigned: int = Field(description=gettext_noop("The source's contacts assigned within the load window."))
    free: int = Field(
        description=gettext_noop(
            "Free slots now: limit minus load, over the source's operators who can take contacts now "
            "(switched on, on shift, available)."
        )
    )
    blocked: UnassignedReason | None = Field(
        description=gettext_noop("Why nobody can take the source's contacts now (null when someone can).")
    )
    waiting: WaitingOut
    operators: list[OperatorShareOut]


class SourceDetail(SourceFigures, SourceOut):  # SourceOut's fields first
    weights: list[WeightOut] = Field(
        description=gettext_noop("The configured set, as PUT .../weights takes it.")
    )


class SourceChanged(SourceDetail):
    waiting_assigned: int = WAITING_ASSIGNED


router = Router(tags=["sources"])


@router.get("", response={200: list[SourceOut], **errors(400)}, summary=gettext_noop("List sources"))
@paginate(LimitOffset)
def list_sources(request: HttpRequest) -> QuerySet[Source]:
    return Source.objects.prefetch_related("required_skills", "preferred_skills")


@router.get(
    "/{int:source_id}", response={200: SourceDetail, **errors(404)}, summary=gettext_noop("Get a source")
)
def get_source(request: HttpRequest, source_id: int) -> dict:
    return source_detail(get_or_404(Source.objects.all(), source_id, "source"))


@router.post(
    "",
    auth=write_key,
    response={201: SourceCreated, **errors(400, 403)},
    summary=gettext_noop("Create a source"),
    description=gettext_noop(
        "Answers with the webhook `token`, shown only this once (only its digest is stored)."
    ),
)
def create_source(request: HttpRequest, payload: SourceIn) -> Status[Source]:
    fields = payload.dict()
    skills = {"required": fields.pop("required_skills"), "preferred": fields.pop("preferred_skills")}
    with transaction.atomic(), one_entry():  # a refused skill leaves no source behind; one history entry
        source, _token = crm_services.create_source(**fields)
        capacity.set_source_skills(source=source, **skills)
    return Status(201, source)  # source.token holds the new token


@router.patch(
    "/{int:source_id}",
    auth=write_key,
    response={200: SourceDetail, **errors(400, 403, 404)},
    summary=gettext_noop("Change a source"),
    description=gettext_noop(
        "Any subset of `name`, `keep_operator`, `accept_within_seconds` (null: no offers), "
        "`missed_offers_before_away`, `strategy`, `required_skills`, `preferred_skills` (each the whole new "
        "list) and `relax_preferred_after_seconds` (null: never). Offers already running keep their deadline; "
        "fewer required skills route the waiting contacts at once."
    ),
)
def update_source(request: HttpRequest, source_id: int, payload: SourcePatch) -> dict:
    source = get_or_404(Source.objects.all(), source_id, "source")
    changes = payload.dict(exclude_unset=True)
    nullable = {"accept_within_seconds", "relax_preferred_after_seconds"}
    for name, value in changes.items():
        if value is None and name not in nullable:
            raise DjangoValidationError({name: gettext("This field cannot be null.")})
    skills = {
        kind: changes.pop(f"{kind}_skills")
        for kind in ("required", "preferred")
        if f"{kind}_skills" in changes
    }
    try:
        with transaction.atomic(), one_entry():
            crm_services.update_source(source=source, **changes)
            if skills:
                capacity.set_source_skills(source=source, **skills)
    except Source.DoesNotExist:  # deleted since it was found
        raise Http404(NOT_FOUND["source"] % {"id": source_id}) from None
    return source_detail(source)


@router.put(
    "/{int:source_id}/weights",
    auth=write_key,
    response={200: SourceChanged, **errors(400, 403, 404)},
    summary=gettext_noop("Replace a source's weights"),
    description=gettext_noop(
        "The whole set at once, atomically: every operator must exist, each once, with a weight of "
        "at least 1; operators left out stop receiving the source's contacts. An empty list removes them all."
    ),
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
