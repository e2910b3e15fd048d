"""Operators' weekly schedules and exceptions, and everyone's holidays: replaced as a whole (the admin's
inlines, the API), each operator's shift kept on its row (crm.shifts), and the waiting contacts routed when
a change puts someone on shift now."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from crm import eligibility, shifts
from crm.choices import ScheduleExceptionKind
from crm.models import Operator, ScheduleException, ShiftInterval
from distribution.capacity import Routed, drain_after_commit, sources_of


@dataclass(frozen=True)
class Interval:
    weekday: int  # 0 = Monday
    starts: time
    ends: time  # at or before `starts`: the next day


@dataclass(frozen=True)
class DateRange:
    start_date: date
    end_date: date
    kind: str = ScheduleExceptionKind.DAY_OFF
    starts: time | None = None  # changed hours only
    ends: time | None = None


def validate(intervals: Iterable[Interval], exceptions: Iterable[DateRange]) -> None:
    """ValidationError naming `intervals` or `exceptions` (with the item's position) for what the rows would
    refuse: a weekday out of 0–6, an interval of no length, dates out of order, hours missing or given where
    they do not belong."""
    errors: dict[str, list[str]] = {}
    for n, i in enumerate(intervals):
        if not 0 <= i.weekday <= 6:
            errors.setdefault(f"intervals.{n}.weekday", []).append(
                gettext("A weekday is 0 (Monday) to 6 (Sunday).")
            )
        if i.starts == i.ends:
            errors.setdefault(f"intervals.{n}.end", []).append(gettext("An interval needs a length."))
    for n, e in enumerate(exceptions):
        if e.end_date < e.start_date:
            errors.setdefault(f"exceptions.{n}.end_date", []).append(gettext("The end is before the start."))
        if e.kind not in ScheduleExceptionKind.values:
            errors.setdefault(f"exceptions.{n}.kind", []).append(gettext("Either day_off or hours."))
        elif e.kind == ScheduleExceptionKind.HOURS and (
            e.starts is None or e.ends is None or e.starts == e.ends
        ):
            errors.setdefault(f"exceptions.{n}.start", []).append(
                gettext("Changed hours need a start and an end.")
            )
        elif e.kind == ScheduleExceptionKind.DAY_OFF and (e.starts is not None or e.ends is not None):
            errors.setdefault(f"exceptions.{n}.start", []).append(gettext("A day off has no hours."))
    if errors:
        raise ValidationError(errors)


def same_as_monday(intervals: Iterable[Interval], *, days: Iterable[int]) -> list[Interval]:
    """The week with Monday's intervals copied onto `days` (weekday numbers), in place of their own."""
    intervals, days = list(intervals), set(days)
    monday = [i for i in intervals if i.weekday == 0]
    kept = [i for i in intervals if i.weekday not in days]
    return sorted(
        [*kept, *(Interval(day, i.starts, i.ends) for day in days for i in monday)],
        key=lambda i: (i.weekday, i.starts),
    )


def _refresh(operator: Operator, *, now: datetime) -> bool:
    """Keep the operator's shift up to date; whether that made it reachable now (it was not before)."""
    was = eligibility.reachable(operator, now)
    shifts.store(operator, now=now)
    return not was and eligibility.reachable(operator, now)


def set_schedule(
    *,
    operator: Operator,
    intervals: Iterable[Interval],
    exceptions: Iterable[DateRange],
    now: datetime | None = None,
) -> Routed:
    """Replace the operator's weekly intervals and own exceptions (empty: no schedule, always on shift).
    Raises ValidationError (validate) and Operator.DoesNotExist (deleted meanwhile); routes waiting
    contacts when the operator is on shift now and was not."""
    intervals, exceptions = list(intervals), list(exceptions)
    validate(intervals, exceptions)
    now = now or timezone.now()
    with transaction.atomic():
        locked = Operator.objects.select_for_update().get(pk=operator.pk)
        ShiftInterval.objects.filter(operator=locked).delete()
        ShiftInterval.objects.bulk_create(ShiftInterval(operator=locked, **vars(i)) for i in intervals)
        ScheduleException.objects.filter(operator=locked).delete()
        ScheduleException.objects.bulk_create(
            ScheduleException(operator=locked, **vars(e)) for e in exceptions
        )
        if _refresh(locked, now=now):
            return drain_after_commit(sources_of([locked.pk]), now=now)
    return Routed()


def holidays() -> list[ScheduleException]:
    """Everyone's days off and changed hours, soonest first."""
    return list(ScheduleException.objects.filter(operator__isnull=True).order_by("start_date", "id"))


def add_holiday(*, holiday: DateRange, now: datetime | None = None) -> ScheduleException:
    """A day off (or changed hours) for everyone who works to a weekly schedule; every such operator's
    shift is worked out again (one operator at a time, each under its lock)."""
    validate([], [holiday])
    with transaction.atomic():
        added = ScheduleException.objects.create(operator=None, **vars(holiday))
    refresh_everyone(now=now)
    return added


def remove_holiday(*, holiday_id: int, now: datetime | None = None) -> Routed:
    """Take a holiday back; operators on shift now because of it get the waiting contacts."""
    ScheduleException.objects.filter(pk=holiday_id, operator__isnull=True).delete()
    return refresh_everyone(now=now)


def refresh_everyone(*, now: datetime | None = None) -> Routed:
    """Work every scheduled operator's shift out again (after a change to everyone's holidays)."""
    now, routed = now or timezone.now(), Routed()
    for operator_id in Operator.objects.filter(scheduled=True).values_list("pk", flat=True):
        with transaction.atomic():
            locked = Operator.objects.select_for_update().filter(pk=operator_id).first()
            if locked is not None and _refresh(locked, now=now):
                routed.add(drain_after_commit(sources_of([locked.pk]), now=now))
    return routed
