"""When an operator is on shift: a weekly schedule in the operator's own time zone, with exceptions.

The rules, exact to the second in the operator's zone:
- each weekly interval is local wall-clock time on its weekday; an end at or before the start crosses
  midnight and ends the next day (22:00–06:00);
- an exception covers whole local dates: a day off (a holiday, leave) has no hours, changed hours replace
  that date's weekly intervals; an operator's own exception wins over everyone's for the same date;
- with no weekly interval, every date is one whole day on shift (exceptions still apply, but not the
  company's holidays: such operators, a round-the-clock line, keep working);
- the two daylight-saving days follow the zone's clock: a shift 09:00–18:00 starts at 09:00 summer or
  winter time, and a night shift over a change lasts an hour more or less. A local time the clock skips
  (02:30 on the spring day) is read with the offset before the change; a local time the clock repeats
  (02:30 on the autumn day) is its first occurrence (Python's zoneinfo, fold 0).

Nothing here queries but `schedule_of` and `store`: `current_or_next` takes the schedule as plain data and
a moment, and answers the shift that holds that moment or the next one, in UTC, with adjacent intervals (the
night shift's two halves, two days' whole days) merged into one; `day_of` answers one local date as a person
reads it (My work's "today").
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q

from crm.choices import ScheduleExceptionKind

# How far ahead a next shift is looked for: past a year of days off it is "none in sight" (off shift).
HORIZON_DAYS = 400


@dataclass(frozen=True)
class Weekly:
    weekday: int  # 0 = Monday
    starts: time
    ends: time


@dataclass(frozen=True)
class DateException:
    start_date: date
    end_date: date
    kind: str  # ScheduleExceptionKind
    starts: time | None = None
    ends: time | None = None
    own: bool = True  # the operator's own, or everyone's

    def covers(self, day: date) -> bool:
        return self.start_date <= day <= self.end_date


@dataclass(frozen=True)
class Shift:
    """The interval [starts, ends) in UTC. None for both: no shift in sight (off shift until the schedule
    changes)."""

    starts: datetime | None
    ends: datetime | None

    def holds(self, moment: datetime) -> bool:
        return self.starts is not None and self.starts <= moment < self.ends


@dataclass(frozen=True)
class Day:
    """One local date of a schedule as a person reads it: its intervals (local times; an end at or before
    the start is the next day's, 00:00–00:00 the whole day), the exception that replaced the weekly schedule
    that date (None: the week's), and whether the operator works to a schedule at all (not: always on
    shift)."""

    day: date
    intervals: tuple[tuple[time, time], ...]
    exception: DateException | None
    scheduled: bool


def _applying(exceptions: Iterable[DateException], weekly: list[Weekly]) -> list[DateException]:
    """A company holiday stops the operators who work to a weekly schedule only."""
    return [e for e in exceptions if e.own or weekly]


def _deciding(day: date, exceptions: list[DateException]) -> DateException | None:
    """The exception that decides the date: the operator's own before everyone's."""
    covering = [e for e in exceptions if e.covers(day)]
    return min(covering, key=lambda e: not e.own) if covering else None


def _local_intervals(
    day: date, weekly: list[Weekly], exceptions: list[DateException]
) -> list[tuple[time, time]]:
    """The day's intervals as local (start, end) times, an end at or before the start meaning the next day."""
    chosen = _deciding(day, exceptions)
    if chosen is not None:
        if chosen.kind == ScheduleExceptionKind.DAY_OFF:
            return []
        return [(chosen.starts, chosen.ends)]
    if not weekly:
        return [(time.min, time.min)]  # the whole day
    return [(w.starts, w.ends) for w in weekly if w.weekday == day.weekday()]


def day_of(*, weekly: Iterable[Weekly], exceptions: Iterable[DateException], on: date) -> Day:
    """The local date `on` of this schedule, by the same rules as current_or_next."""
    weekly = list(weekly)
    exceptions = _applying(exceptions, weekly)
    return Day(
        day=on,
        intervals=tuple(_local_intervals(on, weekly, exceptions)),
        exception=_deciding(on, exceptions),
        scheduled=bool(weekly) or any(e.own for e in exceptions),
    )


def _instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A local date and wall-clock time as a UTC moment (fold 0: see the module's rules)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def current_or_next(
    *, zone: str, weekly: Iterable[Weekly], exceptions: Iterable[DateException], now: datetime
) -> Shift:
    """The shift holding `now`, or the next one; Shift(None, None) when none starts within HORIZON_DAYS."""
    tz = ZoneInfo(zone)
    weekly = list(weekly)
    exceptions = _applying(exceptions, weekly)
    today = now.astimezone(tz).date()
    merged: list[list[datetime]] = []  # sorted, disjoint, not touching
    for offset in range(-1, HORIZON_DAYS):  # from yesterday: a night shift begun then may hold now
        day = today + timedelta(days=offset)
        for starts, ends in _local_intervals(day, weekly, exceptions):
            begin = _instant(day, starts, tz)
            finish = _instant(day + timedelta(days=1) if ends <= starts else day, ends, tz)
            if finish > begin:  # a clock change may swallow a short interval whole
                _add(merged, begin, finish)
        found = next((m for m in merged if m[1] > now), None)
        # Intervals of later days begin at their midnight or after: they can no longer join this one.
        if found is not None and found[1] < _instant(day + timedelta(days=1), time.min, tz):
            return Shift(*found)
    found = next((m for m in merged if m[1] > now), None)
    return Shift(*found) if found else Shift(None, None)


def _add(merged: list[list[datetime]], begin: datetime, finish: datetime) -> None:
    """Put [begin, finish) into the sorted list, merged with every interval it overlaps or touches."""
    kept = [m for m in merged if m[1] < begin or m[0] > finish]
    for m in merged:
        if not (m[1] < begin or m[0] > finish):
            begin, finish = min(begin, m[0]), max(finish, m[1])
    merged[:] = sorted([*kept, [begin, finish]])


def schedule_of(operator) -> tuple[list[Weekly], list[DateException]]:
    """The operator's schedule as stored, as plain data: its weekly intervals, its own exceptions and
    everyone's. Two queries."""
    from crm.models import ScheduleException

    weekly = [Weekly(i.weekday, i.starts, i.ends) for i in operator.shift_intervals.all()]
    exceptions = [
        DateException(e.start_date, e.end_date, e.kind, e.starts, e.ends, own=e.operator_id is not None)
        for e in ScheduleException.objects.filter(Q(operator=operator) | Q(operator__isnull=True))
    ]
    return weekly, exceptions


def store(operator, *, now: datetime) -> Shift:
    """Work the operator's shift now or next out from its schedule as stored (schedule_of) and keep it on
    the operator's row, with when the worker must look again (the shift's start, or its end). Saves those
    fields only; the caller holds the operator's lock."""
    weekly, exceptions = schedule_of(operator)
    operator.scheduled = bool(weekly) or any(e.own for e in exceptions)
    shift = (
        current_or_next(zone=operator.timezone, weekly=weekly, exceptions=exceptions, now=now)
        if operator.scheduled
        else Shift(None, None)
    )
    operator.shift_starts_at, operator.shift_ends_at = shift.starts, shift.ends
    if shift.starts is None:
        operator.shift_due_at = None
    else:
        operator.shift_due_at = shift.starts if shift.starts > now else shift.ends
    operator.save(update_fields=["scheduled", "shift_starts_at", "shift_ends_at", "shift_due_at"])
    return shift
