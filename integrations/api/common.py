"""What every resource of the integration API shares: ids, names and days as the models bound them, the error
shape and its declaration, paging, and finding an object or answering 404."""

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from django.http import Http404
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    PlainValidator,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)

from crm.days import EARLIEST, LATEST
from crm.models import Operator, Skill, Source, SourceOperatorWeight
from crm.validators import bounds, single_line

OPERATOR_NAME_MAX = Operator._meta.get_field("name").max_length
SOURCE_NAME_MAX = Source._meta.get_field("name").max_length
SKILL_NAME_MAX = Skill._meta.get_field("name").max_length
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


# --- Moments, days and wall-clock times in bodies ---------------------------------------------------------
# Each only as JSON text in its ISO 8601 form: pydantic's lax parsing would also take a number (as seconds
# since 1970) or, for a time, an offset, and a body that means something else should be refused instead.

CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
DAY_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _text(value: object, pattern: str, message: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise ValueError(message)
    return value


def _clock(value: object) -> time:
    """A local wall-clock time, "HH:MM" or "HH:MM:SS": no offset, the operator's time zone says which."""
    return time.fromisoformat(_text(value, CLOCK_PATTERN, gettext("Use HH:MM or HH:MM:SS, 00:00 to 23:59.")))


def _day(value: object) -> str:
    return _text(value, DAY_PATTERN, gettext("Use a date as YYYY-MM-DD."))


def _moment_text(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError(
            gettext("Use an ISO 8601 date and time with an offset, such as 2026-11-23T17:30:00+03:00.")
        )
    return value


def _aware(value: datetime) -> datetime:
    """In UTC; a moment without an offset is refused rather than read in some zone the client did not mean."""
    if value.utcoffset() is None:
        raise ValueError(gettext("Include a time zone offset, such as +03:00 or Z for UTC."))
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is past the last moment a datetime holds
        raise ValueError(gettext("Out of range.")) from None


Clock = Annotated[
    time,
    PlainValidator(_clock),
    WithJsonSchema({"type": "string", "pattern": CLOCK_PATTERN, "examples": ["09:00"]}),
]
BodyDay = Annotated[date, BeforeValidator(_day), Field(ge=EARLIEST, le=LATEST)]
Moment = Annotated[datetime, BeforeValidator(_moment_text), AfterValidator(_aware)]


def clock_text(at: time | None) -> str | None:
    """A stored time as the API writes it: "09:00", or "09:00:30" when it has seconds (a fraction of a second,
    which only the admin's form could store, is left out)."""
    if at is None:
        return None
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")


class Body(Schema):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "description": gettext_noop(
                "Every error: each field (or `request`, `body`, `authorization`, `id`) with its messages."
            )
        }
    )

    errors: dict[str, list[str]] = Field(examples=[{"name": ["This field cannot be blank."]}])


# --- Paging ----------------------------------------------------------------------------------------


class LimitOffset(LimitOffsetPagination):
    """`limit` (1–500, default 50) and `offset`; the answer carries the total `count` and echoes both."""

    class Input(Schema):
        limit: int = Field(50, ge=1, le=500, description=gettext_noop("Items per page (at most 500)."))
        # Bounded so that no database is asked for an offset beyond its integer range.
        offset: int = Field(0, ge=0, le=2**31 - 1, description=gettext_noop("Items to skip."))

    class Output(Schema):
        items: list[Any]
        count: int = Field(description=gettext_noop("How many items match, on every page."))
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


WAITING_ASSIGNED = Field(
    description=gettext_noop(
        "Waiting contacts this change routed at once, because it added capacity (0 if it added none)."
    )
)


def errors(*statuses: int) -> dict[int, type[ErrorOut]]:
    """Declare error answers in the schema: 401 always (every operation needs a key), plus these."""
    return {status: ErrorOut for status in (401, *statuses)}


# One sentence per kind of object: a translation needs the whole sentence, not a word put into one.
NOT_FOUND = {
    "operator": _("No operator with id %(id)s."),
    "source": _("No source with id %(id)s."),
    "lead": _("No lead with id %(id)s."),
    "contact": _("No contact with id %(id)s."),
    "holiday": _("No company holiday with id %(id)s."),
    "subscription": _("No subscription with id %(id)s."),
}


def get_or_404(queryset: QuerySet, pk: int, what: str) -> Model:
    obj = queryset.filter(pk=pk).first() if 1 <= pk <= MAX_ID else None
    if obj is None:
        raise Http404(NOT_FOUND[what] % {"id": pk})
    return obj
