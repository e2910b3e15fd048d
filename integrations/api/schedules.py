"""/api/v1/operators/{id}/schedule and /api/v1/holidays: an operator's weekly schedule with its own
exceptions, read and replaced as a whole, and everyone's holidays; written through distribution.schedules,
which keeps each operator's shift and routes waiting contacts when a change puts someone on shift now."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_noop
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import StrictInt

from crm.choices import ScheduleExceptionKind
from crm.models import Operator, ScheduleException, ShiftInterval
from distribution import schedules
from integrations.api.common import (
    NOT_FOUND,
    WAITING_ASSIGNED,
    Body,
    BodyDay,
    Clock,
    LimitOffset,
    clock_text,
    errors,
    get_or_404,
)
from integrations.api.operators import ShiftOut
from integrations.auth import write_key

# More than any real week or year of leave needs; bounded because a schedule is worked out again, day by
# day, on every change and every shift's end (crm.shifts), so a body of thousands would cost every one.
MAX_INTERVALS = 100
MAX_EXCEPTIONS = 500
CLOCK = gettext_noop("HH:MM (HH:MM:SS when it has seconds), wall-clock time in the operator's time zone.")
CLOCK_OR_DAY_OFF = gettext_noop(
    "HH:MM (HH:MM:SS when it has seconds), wall-clock time in the operator's time zone. Null for a day off."
)


class IntervalIn(Body):
    weekday: StrictInt = Field(ge=0, le=6, description=gettext_noop("0 = Monday … 6 = Sunday."))
    start: Clock
    end: Clock = Field(
        description=gettext_noop("At or before `start`: the next day (22:00–06:00 ends the next morning).")
    )

    def value(self) -> schedules.Interval:
        return schedules.Interval(self.weekday, self.start, self.end)


class DateRangeIn(Body):
    start_date: BodyDay = Field(description=gettext_noop("YYYY-MM-DD, the operator's local date."))
    end_date: BodyDay = Field(
        description=gettext_noop("YYYY-MM-DD, included; the same as start_date for one day.")
    )
    kind: ScheduleExceptionKind = Field(
        description=gettext_noop("`day_off`: no hours; `hours`: these hours instead.")
    )
    start: Clock | None = Field(None, description=gettext_noop("Only for `hours`."))
    end: Clock | None = Field(
        None, description=gettext_noop("Only for `hours`; at or before `start`: the next day.")
    )

    def value(self) -> schedules.DateRange:
        return schedules.DateRange(self.start_date, self.end_date, self.kind, self.start, self.end)


class ScheduleIn(Body):
    intervals: list[IntervalIn] = Field(
        max_length=MAX_INTERVALS,
        description=gettext_noop(
            "The weekly intervals; empty: no weekly schedule (always on shift, but for days off)."
        ),
    )
    exceptions: list[DateRangeIn] = Field(
        max_length=MAX_EXCEPTIONS,
        description=gettext_noop(
            "The operator's own days off and changed hours; they win over company holidays."
        ),
    )


class IntervalOut(Schema):
    weekday: int
    start: str = Field(description=CLOCK)
    end: str = Field(description=CLOCK)

    @staticmethod
    def resolve_start(interval: ShiftInterval) -> str:
        return clock_text(interval.starts)

    @staticmethod
    def resolve_end(interval: ShiftInterval) -> str:
        return clock_text(interval.ends)


class DateRangeOut(Schema):
    start_date: date
    end_date: date
    kind: ScheduleExceptionKind
    start: str | None = Field(description=CLOCK_OR_DAY_OFF)
    end: str | None = Field(description=CLOCK_OR_DAY_OFF)

    @staticmethod
    def resolve_start(exception: ScheduleException) -> str | None:
        return clock_text(exception.starts)

    @staticmethod
    def resolve_end(exception: ScheduleException) -> str | None:
        return clock_text(exception.ends)


class HolidayId(Schema):
    id: int


class HolidayOut(DateRangeOut, HolidayId):  # the id first
    pass


class ScheduleFields(Schema):
    intervals: list[IntervalOut]
    exceptions: list[DateRangeOut] = Field(
        description=gettext_noop("The operator's own (company holidays: GET /holidays).")
    )
    timezone: str = Field(
        description=gettext_noop("The IANA time zone the times are in (PATCH the operator to change it).")
    )

    @staticmethod
    def resolve_intervals(operator: Operator) -> list[ShiftInterval]:
        return list(operator.shift_intervals.all())

    @staticmethod
    def resolve_exceptions(operator: Operator) -> list[ScheduleException]:
        return list(operator.schedule_exceptions.all())


class ScheduleOut(ShiftOut, ScheduleFields):  # the schedule first, then the shift it gives
    pass


class ScheduleChanged(ScheduleOut):
    waiting_assigned: int = WAITING_ASSIGNED


router = Router(tags=["schedules"])


@router.get(
    "/{int:operator_id}/schedule",
    response={200: ScheduleOut, **errors(404)},
    summary=gettext_noop("Get an operator's schedule"),
    description=gettext_noop(
        "The weekly intervals and the operator's own exceptions, as PUT takes them, with the time "
        "zone and the shift now or next."
    ),
)
def get_schedule(request: HttpRequest, operator_id: int) -> Operator:
    return get_or_404(Operator.objects.all(), operator_id, "operator")


@router.put(
    "/{int:operator_id}/schedule",
    auth=write_key,
    response={200: ScheduleChanged, **errors(400, 403, 404)},
    summary=gettext_noop("Replace an operator's schedule"),
    description=gettext_noop(
        "The whole schedule at once, atomically: the weekly intervals and the operator's own "
        "exceptions; both lists are required, and an item left out is removed. Empty intervals: no weekly "
        "schedule (always on shift). A change that puts the operator on shift now routes waiting contacts."
    ),
)
def set_schedule(request: HttpRequest, operator_id: int, payload: ScheduleIn) -> Operator:
    operator = get_or_404(Operator.objects.all(), operator_id, "operator")
    try:
        routed = schedules.set_schedule(
            operator=operator,
            intervals=[i.value() for i in payload.intervals],
            exceptions=[e.value() for e in payload.exceptions],
        )
    except Operator.DoesNotExist:  # deleted since it was found
        raise Http404(NOT_FOUND["operator"] % {"id": operator_id}) from None
    changed = get_or_404(Operator.objects.all(), operator_id, "operator")  # with its shift worked out
    changed.waiting_assigned = routed.assigned  # read by ScheduleChanged with the model's fields
    return changed


# --- Company holidays ----------------------------------------------------------------------------------

holidays = Router(tags=["schedules"])


@contextmanager
def holiday_fields() -> Iterator[None]:
    """distribution.schedules checks a holiday as an exception of a list ("exceptions.0.end_date"); the
    body here is the one holiday, so its errors name the body's own fields ("end_date")."""
    try:
        yield
    except ValidationError as refused:
        if not hasattr(refused, "error_dict"):
            raise
        raise ValidationError(
            {field.removeprefix("exceptions.0."): errors for field, errors in refused.error_dict.items()}
        ) from None


@holidays.get(
    "",
    response={200: list[HolidayOut], **errors(400)},
    summary=gettext_noop("List company holidays"),
    description=gettext_noop(
        "Everyone's days off and changed hours, by start date (earliest first). They stop the "
        "operators with a weekly schedule; those without one keep working."
    ),
)
@paginate(LimitOffset)
def list_holidays(request: HttpRequest) -> list[ScheduleException]:
    return schedules.holidays()


@holidays.post(
    "",
    auth=write_key,
    response={201: HolidayOut, **errors(400, 403)},
    summary=gettext_noop("Add a company holiday"),
    description=gettext_noop(
        "A day off (`day_off`) or changed hours (`hours`, with `start` and `end`) for everyone with "
        "a weekly schedule, each in their own time zone; every such operator's shift is worked out again."
    ),
)
def add_holiday(request: HttpRequest, payload: DateRangeIn) -> Status[ScheduleException]:
    with holiday_fields():
        return Status(201, schedules.add_holiday(holiday=payload.value()))


@holidays.delete(
    "/{int:holiday_id}",
    auth=write_key,
    response={204: None, **errors(400, 403, 404)},
    summary=gettext_noop("Remove a company holiday"),
    description=gettext_noop("Operators on shift now because of it get the waiting contacts."),
)
def remove_holiday(request: HttpRequest, holiday_id: int) -> Status[None]:
    get_or_404(ScheduleException.objects.filter(operator__isnull=True), holiday_id, "holiday")
    schedules.remove_holiday(holiday_id=holiday_id)
    return Status(204, None)
