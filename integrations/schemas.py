"""Request and response shapes of /api/v1/. Field limits are read from the models (one definition).

Request bodies are strict JSON: a number must be a number and a flag true/false (no "5" or "yes"), and
unknown fields are refused, so a typo such as "active" for "is_active" is an error, not a silent no-op.
"""

from collections import Counter
from datetime import date, datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from django.utils.translation import gettext
from ninja import Field, FilterLookup, FilterSchema, Schema
from ninja.pagination import LimitOffsetPagination
from pydantic import AfterValidator, ConfigDict, StrictBool, StrictInt, StrictStr, field_validator

from crm.days import EARLIEST, LATEST, within_days
from crm.models import LeadQuerySet, Operator, Source, SourceOperatorWeight
from crm.validators import bounds, single_line

OPERATOR_NAME_MAX = Operator._meta.get_field("name").max_length
SOURCE_NAME_MAX = Source._meta.get_field("name").max_length
DEFAULT_LOAD_LIMIT = Operator._meta.get_field("load_limit").default
# The model fields' bounds (crm.validators.bounds): a number the database cannot store is a 400 naming the field.
LOAD_LIMIT_MIN, LOAD_LIMIT_MAX = bounds(Operator, "load_limit")
WEIGHT_MIN, WEIGHT_MAX = bounds(SourceOperatorWeight, "weight")
# Ids are BigAutoFields; a larger number would overflow the database's integer (an error, not "no match").
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
StrictId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
# The days every filter accepts (crm.days), the staff pages' and the admin's too.
Day = Annotated[date, Field(ge=EARLIEST, le=LATEST)]


def _name(value: str) -> str:
    """Trimmed, as the admin's forms trim it (so "  " is blank); control characters and unpaired surrogates
    are refused by the models' own rule (crm.validators), as the webhook does."""
    try:
        single_line(value)
    except DjangoValidationError as exc:
        raise ValueError(exc.messages[0]) from None
    return value.strip()


Name = Annotated[StrictStr, AfterValidator(_name)]


class Body(Schema):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    """Every error: each field (or `request`, `body`, `authorization`, `id`) with its messages."""

    errors: dict[str, list[str]] = Field(examples=[{"name": ["This field cannot be blank."]}])


# --- Paging ----------------------------------------------------------------------------------------


class LimitOffset(LimitOffsetPagination):
    """`limit` (1–500, default 50) and `offset`; the answer carries the total `count` and echoes both."""

    class Input(Schema):
        limit: int = Field(50, ge=1, le=500, description="Items per page (at most 500).")
        # Bounded so that no database is asked for an offset beyond its integer range.
        offset: int = Field(0, ge=0, le=2**31 - 1, description="Items to skip.")

    class Output(Schema):
        items: list[Any]
        count: int = Field(description="How many items match, on every page.")
        limit: int
        offset: int

    def paginate_queryset(self, queryset, pagination: Input, request, **params) -> dict[str, Any]:
        offset, limit = pagination.offset, pagination.limit
        return {
            "items": queryset[offset : offset + limit],
            "count": self._items_count(queryset),
            "limit": limit,
            "offset": offset,
        }


# --- Operators -------------------------------------------------------------------------------------


class OperatorIn(Body):
    name: Name = Field(min_length=1, max_length=OPERATOR_NAME_MAX)
    load_limit: StrictInt = Field(
        DEFAULT_LOAD_LIMIT,
        ge=LOAD_LIMIT_MIN,
        le=LOAD_LIMIT_MAX,
        description="Most contacts within the load window.",
    )
    is_active: StrictBool = True


class OperatorPatch(Body):
    """Any subset of the fields. Declared without `None`: a field may be left out, but not set to null."""

    name: Name = Field(None, min_length=1, max_length=OPERATOR_NAME_MAX)
    load_limit: StrictInt = Field(None, ge=LOAD_LIMIT_MIN, le=LOAD_LIMIT_MAX)
    is_active: StrictBool = Field(None)


class OperatorOut(Schema):
    id: int
    name: str
    is_active: bool
    load_limit: int
    load: int = Field(description="Contacts assigned within the load window (LOAD_WINDOW_HOURS) now.")
    created_at: datetime
    updated_at: datetime


WAITING_ASSIGNED = Field(
    description="Waiting contacts this change routed at once, because it added capacity (0 if it added none)."
)


class OperatorChanged(OperatorOut):
    waiting_assigned: int = WAITING_ASSIGNED


class OperatorFilter(FilterSchema):
    active: Annotated[bool | None, FilterLookup("is_active")] = Field(
        None, description="Only (in)active ones."
    )


# --- Sources ---------------------------------------------------------------------------------------


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
    free: int = Field(description="Free slots now: over the source's active operators, limit minus load.")
    blocked: str | None = Field(
        description="Why nobody can take the source's contacts now: no_operators, all_inactive, all_at_limit."
    )
    waiting: WaitingOut
    operators: list[OperatorShareOut]


class SourceDetail(SourceFigures, SourceOut):  # SourceOut's fields first
    weights: list[WeightOut] = Field(description="The configured set, as PUT .../weights takes it.")


class SourceChanged(SourceDetail):
    waiting_assigned: int = WAITING_ASSIGNED


# --- Leads and contacts ----------------------------------------------------------------------------


class LeadOut(Schema):
    id: int
    external_id: str
    name: str
    created_at: datetime
    updated_at: datetime


class LeadFilter(FilterSchema):
    """As the staff lead list filters (crm.models.LeadQuerySet)."""

    q: str | None = Field(None, min_length=1, description="Part of the external id or the name (any case).")
    source: Id | None = Field(None, description="Leads with a contact from this source.")
    operator: Id | None = Field(None, description="Leads with a contact handled by this operator.")
    waiting: bool | None = Field(None, description="true: leads with a contact waiting for an operator.")

    def filter_q(self, value: str | None) -> Q:
        return Q(external_id__icontains=value) | Q(name__icontains=value) if value else Q()

    def filter_source(self, value: int | None) -> Q:
        return LeadQuerySet.having(source_id=value) if value else Q()

    def filter_operator(self, value: int | None) -> Q:
        return LeadQuerySet.having(operator_id=value) if value else Q()

    def filter_waiting(self, value: bool | None) -> Q:
        waiting = LeadQuerySet.having(operator__isnull=True)
        return Q() if value is None else waiting if value else ~waiting


class ContactOut(Schema):
    id: int
    lead_id: int
    source_id: int
    operator_id: int | None
    created_at: datetime
    assigned_at: datetime | None
    unassigned_reason: str | None = Field(
        description="Why nobody took it: no_operators, all_inactive, all_at_limit."
    )
    message: str

    @staticmethod
    def resolve_unassigned_reason(contact) -> str | None:
        return contact.unassigned_reason or None


class ContactDetail(ContactOut):
    explanation: dict[str, Any] = Field(
        description="What the choice saw: candidates, exclusions, draws, path."
    )


class LeadDetail(LeadOut):
    contact_count: int
    contacts: list[ContactOut] = Field(description="The newest contacts (see `/contacts?lead=` for all).")


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


# --- Statistics ------------------------------------------------------------------------------------


class OperatorStat(Schema):
    id: int
    name: str
    is_active: bool
    load: int
    load_limit: int
    load_percent: int = Field(
        description="Load against the limit, 0–100 (the dashboard's bar; limit 0 is full)."
    )
    is_full: bool
    frees_at: datetime | None = Field(description="For a full operator: when its next slot frees.")
    share: float = Field(description="Percent of all contacts assigned in the window.")


class SourceName(Schema):
    id: int
    name: str


class SourceStat(SourceFigures, SourceName):  # id and name first
    pass


class UnassignedStat(WaitingOut):
    max_age_hours: int


class StatsOut(Schema):
    at: datetime = Field(description="The moment every number was taken at.")
    window_hours: int
    operators: list[OperatorStat]
    sources: list[SourceStat]
    unassigned: UnassignedStat
