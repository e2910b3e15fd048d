"""The pages' charts: arrivals per hour and per day, and each operator's load over the last day."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import (
    Count,
    Q,
)
from django.db.models.functions import Trunc
from django.utils import timezone

from crm.days import start_of
from crm.eligibility import in_window
from crm.models import Contact, Operator, Source
from crm.selectors.loads import OperatorLoad

CHART_HOURS = 24


CHART_DAYS = 30


@dataclass(frozen=True)
class Bucket:
    start: datetime
    assigned: int = 0
    unassigned: int = 0

    @property
    def total(self) -> int:
        return self.assigned + self.unassigned


@dataclass(frozen=True)
class LoadLine:
    """An operator's load at each hour of the last day (the last point is now)."""

    operator: Operator
    points: list[tuple[datetime, int]]


def arrivals(
    *, now: datetime, days: bool = True, sources: Iterable[int] | None = None
) -> tuple[dict[int, list[Bucket]], dict[int, list[Bucket]]]:
    """Contacts that arrived per source, per hour (last CHART_HOURS hours) and, with `days`, per day (last
    CHART_DAYS local days), split into assigned now and still waiting; one grouped query by hour.

    The days cost a pass over a month of contacts (tens of milliseconds at a million a year), so the
    dashboard asks for the hours only and the Trends page for both.
    """
    tz = timezone.get_current_timezone()
    hour_starts = _hour_starts(now)
    since = _day_starts(now)[0] if days else hour_starts[0]
    contacts = Contact.objects.filter(created_at__gte=since)
    if sources is not None:
        contacts = contacts.filter(source_id__in=list(sources))
    rows = (
        contacts.annotate(hour=Trunc("created_at", "hour", tzinfo=tz))
        .order_by()
        .values_list("source_id", "hour")
        .annotate(
            assigned=Count("pk", filter=Q(operator__isnull=False)),
            waiting=Count("pk", filter=Q(operator=None)),
        )
    )
    by_hour: dict[int, dict[datetime, tuple[int, int]]] = defaultdict(dict)
    by_day: dict[int, dict[date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for source_id, hour, assigned, waiting in rows:
        by_hour[source_id][hour] = (assigned, waiting)
        if days:
            day = by_day[source_id][timezone.localtime(hour, tz).date()]
            day[0] += assigned
            day[1] += waiting
    hourly = {
        source_id: [Bucket(h, *(found.get(h) or (0, 0))) for h in hour_starts]
        for source_id, found in by_hour.items()
    }
    daily = {
        source_id: [Bucket(d, *found.get(timezone.localtime(d, tz).date(), (0, 0))) for d in _day_starts(now)]
        for source_id, found in by_day.items()
    }
    return hourly, daily


@dataclass(frozen=True)
class SourceTrend:
    source: Source
    hours: list[Bucket]
    days: list[Bucket]


def trends(*, now: datetime) -> list[SourceTrend]:
    """Per source, arrivals per hour over the last day and per day over the last month; two queries."""
    hourly, daily = arrivals(now=now, days=True)
    return [
        SourceTrend(
            source, hourly.get(source.pk) or empty_hours(now), daily.get(source.pk) or _empty_days(now)
        )
        for source in Source.objects.only("name")
    ]


def _hour_starts(now: datetime) -> list[datetime]:
    """The starts of the last CHART_HOURS whole or running hours, in the current time zone, oldest first."""
    tz = timezone.get_current_timezone()
    # Hours are stepped in UTC: wall-clock arithmetic on local times goes wrong across a DST change.
    current = timezone.localtime(now, tz).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    return [(current - timedelta(hours=n)).astimezone(tz) for n in range(CHART_HOURS - 1, -1, -1)]


def _day_starts(now: datetime) -> list[datetime]:
    """Local midnights of the last CHART_DAYS days (today included), oldest first."""
    today = timezone.localdate(now)
    return [start_of(today - timedelta(days=n)) for n in range(CHART_DAYS - 1, -1, -1)]


def empty_hours(now: datetime) -> list[Bucket]:
    return [Bucket(h) for h in _hour_starts(now)]


def _empty_days(now: datetime) -> list[Bucket]:
    return [Bucket(d) for d in _day_starts(now)]


def load_lines(*, now: datetime, loads: list[OperatorLoad]) -> list[LoadLine]:
    """Each operator's load at every hour mark of the last CHART_HOURS hours, ending with now; one query.

    The load at a moment is what crm.eligibility counts at that moment (its contacts in the window then,
    assigned by then), one conditional count per mark; the last point is the load now. A contact moved to
    another operator since counts for the one it is with now.
    """
    if not loads:
        return []
    marks = _hour_starts(now)[1:]
    at_mark = {
        f"m{i}": Count("pk", filter=in_window(mark) & Q(assigned_at__lte=mark))
        for i, mark in enumerate(marks)
    }
    counted = {
        row["operator_id"]: row
        # Filtering by the operators lets each one be an index range over (operator, assigned_at).
        for row in Contact.objects.filter(
            in_window(marks[0]), operator_id__in=[row.operator.pk for row in loads]
        )
        .order_by()
        .values("operator_id")
        .annotate(**at_mark)
    }
    lines = []
    for row in loads:
        found = counted.get(row.operator.pk, {})
        points = [(mark, found.get(f"m{i}", 0)) for i, mark in enumerate(marks)]
        lines.append(LoadLine(operator=row.operator, points=[*points, (now, row.load)]))
    return lines
