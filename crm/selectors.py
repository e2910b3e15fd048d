"""Reads for the staff pages: each function runs a fixed number of queries, whatever the number of rows.

Pages stay cheap on big tables: a page counts one plain (join-free) filtered table, fetches its 50 rows,
and computes per-row aggregates for those rows only.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    BooleanField,
    CharField,
    Count,
    F,
    Func,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    Window,
)
from django.db.models.functions import Coalesce, Greatest, RowNumber, Trunc
from django.utils import timezone
from django.utils.functional import cached_property

from crm.choices import LoadState, UnassignedReason
from crm.days import start_of, within_days
from crm.history import FieldChange, author, field_changes
from crm.models import Contact, Lead, Operator, Source, SourceOperatorWeight

PAGE_SIZE = 50
CHART_HOURS = 24
CHART_DAYS = 30


def load_state(load: int, limit: int) -> str:
    """A LoadState code for a load against its limit ("" below it): the one rule the dashboard, the lists,
    the assign menus and the admin mark operators by."""
    if load > limit:
        return LoadState.OVER_LIMIT
    return LoadState.FULL if load >= limit else ""


@dataclass(frozen=True)
class OperatorLoad:
    operator: Operator
    load: int
    # When a full operator's next slot frees (its oldest counted assignment leaves the window); None when
    # it is not full, or never frees because its limit is 0.
    frees_at: datetime | None = None

    @property
    def percent(self) -> int:
        """How full the operator is, 0..100 (a limit of 0 counts as full)."""
        limit = self.operator.load_limit
        return min(100, round(100 * self.load / limit)) if limit else 100

    @property
    def is_full(self) -> bool:
        """At or over the limit: takes no contact now (the API's is_full)."""
        return self.load >= self.operator.load_limit

    @property
    def over_limit(self) -> bool:
        """Past the limit (an override, or a limit lowered under the load): shown apart from full."""
        return self.load > self.operator.load_limit

    @property
    def state(self) -> str:
        return load_state(self.load, self.operator.load_limit)

    @property
    def free(self) -> int:
        """Contacts the operator can still take now (0 when switched off)."""
        return max(0, self.operator.load_limit - self.load) if self.operator.is_active else 0


@dataclass(frozen=True)
class OperatorShare:
    operator: Operator
    weight: int  # 0 when the operator got contacts but is no longer among the source's operators
    weight_share: float  # percent of the source's total weight
    contacts: int
    actual_share: float  # percent of the source's assigned contacts in the window


@dataclass(frozen=True)
class Waiting:
    """Unassigned contacts: how many, since when, and how many wait longer than the drain routes."""

    count: int = 0
    oldest: datetime | None = None
    too_old: int = 0


@dataclass(frozen=True)
class Bucket:
    start: datetime
    assigned: int = 0
    unassigned: int = 0

    @property
    def total(self) -> int:
        return self.assigned + self.unassigned


def blocked_reason(*, operators: int, active: int, free: int) -> str:
    """Why nobody can take a source's contacts now (an UnassignedReason), or "" when someone can: from how
    many operators it has, how many of them are active, and its free slots."""
    if not operators:
        return UnassignedReason.NO_OPERATORS
    if not active:
        return UnassignedReason.ALL_INACTIVE
    if not free:
        return UnassignedReason.ALL_AT_LIMIT
    return ""


@dataclass(frozen=True)
class SourceOverview:
    source: Source
    operators: list[OperatorLoad]  # the source's weighted operators, by name
    waiting: Waiting
    assigned: int  # assigned in the window
    rows: list[OperatorShare]  # weight share against actual share
    hours: list[Bucket] = field(default_factory=list)  # arrivals per hour, last CHART_HOURS hours

    @property
    def total_weight(self) -> int:
        return sum(row.weight for row in self.rows)

    @property
    def free(self) -> int:
        """Free slots now: the sum over the source's active operators of limit − load."""
        return sum(row.free for row in self.operators)

    @property
    def blocked(self) -> str:
        """Why nobody can take this source's contacts now (an UnassignedReason), or "" when someone can."""
        return blocked_reason(
            operators=len(self.operators),
            active=sum(1 for row in self.operators if row.operator.is_active),
            free=self.free,
        )

    @property
    def full(self) -> list[OperatorLoad]:
        return [row for row in self.operators if row.operator.is_active and row.is_full]

    @property
    def inactive(self) -> list[OperatorLoad]:
        return [row for row in self.operators if not row.operator.is_active]

    @property
    def next_free(self) -> OperatorLoad | None:
        """The full operator whose slot frees first, when nobody is free."""
        if self.free:
            return None
        freeing = [row for row in self.full if row.frees_at is not None]
        return min(freeing, key=lambda row: row.frees_at) if freeing else None


@dataclass(frozen=True)
class LoadLine:
    """An operator's load at each hour of the last day (the last point is now)."""

    operator: Operator
    points: list[tuple[datetime, int]]


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    loads: list[OperatorLoad]
    sources: list[SourceOverview]
    load_lines: list[LoadLine]

    @property
    def waiting(self) -> Waiting:
        oldest = [s.waiting.oldest for s in self.sources if s.waiting.oldest]
        return Waiting(
            count=sum(s.waiting.count for s in self.sources),
            oldest=min(oldest) if oldest else None,
            too_old=sum(s.waiting.too_old for s in self.sources),
        )

    @property
    def blocked(self) -> list[SourceOverview]:
        return [s for s in self.sources if s.blocked]


@dataclass(frozen=True)
class LeadRow:
    lead: Lead
    contacts: int
    last_contact_at: datetime | None
    latest: Contact | None = None  # the lead's latest contact, with source and operator


def dashboard(*, now: datetime) -> Dashboard:
    """Everything the dashboard shows, for one moment; at most eight queries."""
    loads = operator_loads(now=now)
    by_id = {row.operator.pk: row for row in loads}
    sources = source_overviews(now=now, loads=by_id)
    return Dashboard(
        now=now,
        loads=loads,
        sources=sources,
        load_lines=load_lines(now=now, loads=loads),
    )


# --- The staff dashboard: every source summed up in SQL, the operators a page at a time ----------------

OPERATORS_PER_PAGE = 50


@dataclass(frozen=True)
class SourceSummary:
    """A source's capacity now, summed up in SQL over its operators (none of them is loaded for it); a
    source nobody can take contacts from also names its full and switched-off operators."""

    source: Source
    operators: int  # weighted operators
    active: int  # of them, switched on
    free: int  # free slots now: over the active operators, limit − load where positive
    total_weight: int
    waiting: Waiting
    full: list[OperatorLoad] = field(default_factory=list)  # only when blocked: its active full operators
    inactive: list[Operator] = field(default_factory=list)  # only when blocked: its switched-off ones

    @property
    def blocked(self) -> str:
        return blocked_reason(operators=self.operators, active=self.active, free=self.free)

    @property
    def next_free(self) -> OperatorLoad | None:
        """The full operator whose slot frees first, when nobody is free."""
        freeing = [row for row in self.full if row.frees_at is not None]
        return min(freeing, key=lambda row: row.frees_at) if freeing and not self.free else None


@dataclass(frozen=True)
class SourceShares:
    """Weight share against actual share in the window, for the operators on the dashboard's page."""

    source: Source
    operators: int  # the source's weighted operators, on this page or not
    total_weight: int
    assigned: int  # the source's contacts assigned in the window, to anyone
    waiting: Waiting
    rows: list[OperatorShare]
    hours: list[Bucket]  # arrivals per hour, last CHART_HOURS hours


@dataclass(frozen=True)
class DashboardPage:
    now: datetime
    sources: list[SourceSummary]  # every source, by name
    operators: Page  # of OperatorLoad, by name: the search's page
    load_lines: list[LoadLine]  # of the page's operators
    shares: list[SourceShares]  # the sources of the page's operators, by name

    @property
    def waiting(self) -> Waiting:
        oldest = [s.waiting.oldest for s in self.sources if s.waiting.oldest]
        return Waiting(
            count=sum(s.waiting.count for s in self.sources),
            oldest=min(oldest) if oldest else None,
            too_old=sum(s.waiting.too_old for s in self.sources),
        )

    @property
    def blocked(self) -> list[SourceSummary]:
        return [s for s in self.sources if s.blocked]


def dashboard_page(
    *,
    now: datetime,
    operator_query: str = "",
    operator_source: int | None = None,
    operator_page: str | int | None = 1,
) -> DashboardPage:
    """The staff dashboard for one moment, in a fixed number of queries however many operators there are:
    every source's capacity summed up in SQL, and the operators 50 a page (searched by name, or those of
    one source) with their loads over the day and their shares of the sources they work."""
    sources = source_summaries(now=now)
    operators = Operator.objects.with_load(now).only("name", "is_active", "load_limit")
    if operator_query:
        operators = operators.filter(name__icontains=operator_query)
    if operator_source is not None:
        operators = operators.filter(weights__source_id=operator_source)
    page = Paginator(operators, OPERATORS_PER_PAGE).get_page(operator_page)
    on_page = list(page.object_list)
    frees_at = _freeing_times(
        now=now, operators=[op for op in on_page if op.is_active and op.load >= op.load_limit]
    )
    page.object_list = [
        OperatorLoad(operator=op, load=op.load, frees_at=frees_at.get(op.pk)) for op in on_page
    ]
    return DashboardPage(
        now=now,
        sources=sources,
        operators=page,
        load_lines=load_lines(now=now, loads=page.object_list),
        shares=_shares(now=now, loads=page.object_list, sources={s.source.pk: s for s in sources}),
    )


def source_summaries(*, now: datetime) -> list[SourceSummary]:
    """Every source's operators, active operators, free slots and queue, by name; three queries, and two
    more when a source is blocked (its full and switched-off operators, when their slots free)."""
    load = (
        Contact.objects.in_window(now)
        .filter(operator=OuterRef("operator"))
        .order_by()
        .values("operator")
        .annotate(n=Count("pk"))
        .values("n")
    )
    active = Q(operator__is_active=True)
    # The free-slot rule of OperatorLoad.free, in SQL: over the active operators, limit − load where positive.
    spare = Greatest(F("operator__load_limit") - Coalesce(Subquery(load), 0), 0)
    per_source = {
        row["source_id"]: row
        for row in SourceOperatorWeight.objects.order_by()
        .values("source_id")
        .annotate(
            operators=Count("pk"),
            active=Count("pk", filter=active),
            free=Sum(spare, filter=active),
            total_weight=Sum("weight"),
        )
    }
    waiting = waiting_by_source(now=now)
    summaries = [
        SourceSummary(
            source=source,
            operators=per_source.get(source.pk, {}).get("operators", 0),
            active=per_source.get(source.pk, {}).get("active", 0),
            free=per_source.get(source.pk, {}).get("free") or 0,
            total_weight=per_source.get(source.pk, {}).get("total_weight") or 0,
            waiting=waiting.get(source.pk, Waiting()),
        )
        for source in Source.objects.only("name")
    ]
    blocked = [s for s in summaries if s.blocked and s.operators]
    if not blocked:
        return summaries
    # Only the blocked sources' operators: their alert names who is full or switched off.
    weights = (
        SourceOperatorWeight.objects.filter(source_id__in=[s.source.pk for s in blocked])
        .select_related("operator")
        .annotate(load=Coalesce(Subquery(load), 0))
        .order_by("operator__name", "operator_id")
    )
    by_source: dict[int, list[Operator]] = defaultdict(list)
    operators: dict[int, Operator] = {}
    for weight in weights:
        weight.operator.load = weight.load
        operators[weight.operator_id] = weight.operator
        by_source[weight.source_id].append(weight.operator)
    frees_at = _freeing_times(
        now=now, operators=[op for op in operators.values() if op.is_active and op.load >= op.load_limit]
    )
    blocked_ids = {s.source.pk for s in blocked}
    return [
        replace(
            s,
            full=[
                OperatorLoad(operator=op, load=op.load, frees_at=frees_at.get(op.pk))
                for op in by_source[s.source.pk]
                if op.is_active and op.load >= op.load_limit
            ],
            inactive=[op for op in by_source[s.source.pk] if not op.is_active],
        )
        if s.source.pk in blocked_ids
        else s
        for s in summaries
    ]


def _shares(
    *, now: datetime, loads: list[OperatorLoad], sources: dict[int, SourceSummary]
) -> list[SourceShares]:
    """Weight share against actual share for these operators, per source they work (or got contacts from
    in the window), against the source's totals over all its operators (from `sources`), with its arrivals
    per hour. Four queries: the operators' weights and window contacts, the sources' window contacts, the
    arrivals."""
    if not loads:
        return []
    by_id = {row.operator.pk: row for row in loads}
    mine: dict[int, dict[int, int]] = defaultdict(dict)
    weights = SourceOperatorWeight.objects.filter(operator_id__in=list(by_id))
    for source_id, operator_id, weight in weights.values_list("source_id", "operator_id", "weight"):
        mine[source_id][operator_id] = weight
    counts: dict[int, dict[int, int]] = defaultdict(dict)
    for source_id, operator_id, n in (
        Contact.objects.in_window(now)
        .filter(operator_id__in=list(by_id))
        .order_by()
        .values_list("source_id", "operator_id")
        .annotate(n=Count("pk"))
    ):
        counts[source_id][operator_id] = n
    # A source created after `sources` was read is left out until the next load.
    source_ids = (set(mine) | set(counts)) & set(sources)
    assigned = dict(
        _anyone_in_window(now)
        .filter(source_id__in=source_ids)
        .order_by()
        .values_list("source_id")
        .annotate(n=Count("pk"))
    )
    hours, _ = arrivals(now=now, days=False, sources=source_ids)
    result = []
    for summary in sorted((sources[i] for i in source_ids), key=lambda s: (s.source.name, s.source.pk)):
        source_id = summary.source.pk
        weight_of, count_of = mine.get(source_id, {}), counts.get(source_id, {})
        rows = [
            OperatorShare(
                operator=by_id[op].operator,
                weight=weight_of.get(op, 0),
                weight_share=_percent(weight_of.get(op, 0), summary.total_weight),
                contacts=count_of.get(op, 0),
                actual_share=_percent(count_of.get(op, 0), assigned.get(source_id, 0)),
            )
            for op in weight_of.keys() | count_of.keys()
        ]
        rows.sort(key=lambda r: (r.operator.name, r.operator.pk))
        result.append(
            SourceShares(
                source=summary.source,
                operators=summary.operators,
                total_weight=summary.total_weight,
                assigned=assigned.get(source_id, 0),
                waiting=summary.waiting,
                rows=rows,
                hours=hours.get(source_id) or _empty_hours(now),
            )
        )
    return result


def _anyone_in_window(now: datetime) -> QuerySet[Contact]:
    """Contacts assigned in the window to any operator, read through the (operator, assigned_at) index.

    Without naming the operators PostgreSQL reads the whole table for `assigned_at > …` (60 ms at a
    million contacts); `operator_id = ANY(ARRAY(SELECT id FROM operators))` is one index range per
    operator (about 25 ms at 6,000), and needs no operator loaded here. SQLite looks each one up by
    itself for `IN (SELECT …)`.
    """
    everyone = Operator.objects.order_by().values("pk")
    if connection.vendor != "postgresql":
        return Contact.objects.in_window(now).filter(operator_id__in=everyone)
    return Contact.objects.in_window(now).filter(AnyOf(F("operator_id"), everyone))


class AnyOf(Func):
    """`<column> = ANY(ARRAY(<subquery>))`, a condition PostgreSQL can search an index for, per value."""

    template = "%(expressions)s))"
    arg_joiner = " = ANY(ARRAY("
    output_field = BooleanField()


def operator_loads(*, now: datetime, source_id: int | None = None) -> list[OperatorLoad]:
    """Every operator (active or not; or the source's) with its load in the window, by name, and for full
    operators when their next slot frees; one query, two when someone is full."""
    operators = Operator.objects.with_load(now)
    if source_id is not None:
        operators = operators.filter(weights__source_id=source_id)
    operators = list(operators)
    frees_at = _freeing_times(
        now=now,
        operators=[op for op in operators if op.is_active and op.load >= op.load_limit],
    )
    return [OperatorLoad(operator=op, load=op.load, frees_at=frees_at.get(op.pk)) for op in operators]


def _freeing_times(*, now: datetime, operators: list[Operator]) -> dict[int, datetime]:
    """When each full operator drops below its limit: its (load − limit + 1)-th oldest assignment in the
    window leaves it (the oldest one, unless an override or a lowered limit put it over). One query."""
    needed = {op.pk: op.load - op.load_limit + 1 for op in operators if op.load_limit > 0}
    if not needed:
        return {}
    ranked = (
        Contact.objects.in_window(now)
        .filter(operator_id__in=list(needed))
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("operator_id")],
                order_by=[F("assigned_at").asc()],
            )
        )
        .filter(rank__lte=max(needed.values()))
        .order_by()
        .values_list("operator_id", "rank", "assigned_at")
    )
    window = timedelta(hours=settings.LOAD_WINDOW_HOURS)
    return {op: at + window for op, rank, at in ranked if rank == needed[op]}


def source_overview(*, now: datetime, source_id: int) -> SourceOverview | None:
    """One source's overview, as the dashboard shows it; None when there is no such source (any more)."""
    loads = {row.operator.pk: row for row in operator_loads(now=now, source_id=source_id)}
    found = source_overviews(now=now, loads=loads, source_ids=[source_id])
    return found[0] if found else None


def source_overviews(
    *, now: datetime, loads: dict[int, OperatorLoad], source_ids: list[int] | None = None
) -> list[SourceOverview]:
    """Per source: its operators' capacity, the waiting queue, weight share against actual share, and the
    arrivals per hour over the last day. Five queries: sources, their weights, assigned contacts in the window
    by source and operator, the waiting queue by source, and arrivals by source and hour.

    `loads` must hold every operator (names and loads are taken from it, not queried again); one created
    after it was read is left out until the next load rather than failing the page.
    """
    counts: dict[int, dict[int, int]] = defaultdict(dict)
    # Naming the operators lets each be an index range over (operator, assigned_at), not a scan of history.
    in_window = (
        Contact.objects.in_window(now)
        .filter(operator_id__in=list(loads))
        .order_by()
        .values_list("source_id", "operator_id")
    )
    sources = Source.objects.only("name").prefetch_related("weights")
    if source_ids is not None:
        in_window, sources = in_window.filter(source_id__in=source_ids), sources.filter(pk__in=source_ids)
    for source_id, operator_id, n in in_window.annotate(n=Count("pk")):
        counts[source_id][operator_id] = n
    waiting = waiting_by_source(now=now, source_ids=source_ids)
    hours, _ = arrivals(now=now, days=False, sources=source_ids)

    result = []
    for source in sources:
        weights = {w.operator_id: w.weight for w in source.weights.all() if w.operator_id in loads}
        per_operator = counts.get(source.pk, {})
        assigned = sum(per_operator.values())
        total_weight = sum(weights.values())
        shares = [
            OperatorShare(
                operator=loads[operator_id].operator,
                weight=weights.get(operator_id, 0),
                weight_share=_percent(weights.get(operator_id, 0), total_weight),
                contacts=per_operator.get(operator_id, 0),
                actual_share=_percent(per_operator.get(operator_id, 0), assigned),
            )
            # Operators that got contacts but have since been removed from the source are shown too.
            for operator_id in weights.keys() | per_operator.keys()
            if operator_id in loads
        ]
        shares.sort(key=lambda s: (s.operator.name, s.operator.pk))
        operators = sorted(
            (loads[op] for op in weights),
            key=lambda row: (row.operator.name, row.operator.pk),
        )
        result.append(
            SourceOverview(
                source=source,
                operators=operators,
                waiting=waiting.get(source.pk, Waiting()),
                assigned=assigned,
                rows=shares,
                hours=hours.get(source.pk) or _empty_hours(now),
            )
        )
    return result


def waiting_by_source(*, now: datetime, source_ids: list[int] | None = None) -> dict[int, Waiting]:
    """The unassigned contacts per source: count, oldest arrival, how many are past the max age; one query.

    Only the source and the arrival time are read (created_at is never null, so counting it counts rows):
    an index on (source, created_at) over the waiting contacts answers it without reading the table.
    """
    too_old = now - timedelta(hours=settings.UNASSIGNED_MAX_AGE_HOURS)
    waiting = Contact.objects.unassigned()
    if source_ids is not None:
        waiting = waiting.filter(source_id__in=source_ids)
    rows = (
        waiting.order_by()
        .values_list("source_id")
        .annotate(
            n=Count("created_at"),
            oldest=Min("created_at"),
            too_old=Count("created_at", filter=Q(created_at__lte=too_old)),
        )
    )
    return {source_id: Waiting(count=n, oldest=oldest, too_old=old) for source_id, n, oldest, old in rows}


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
            source, hourly.get(source.pk) or _empty_hours(now), daily.get(source.pk) or _empty_days(now)
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


def _empty_hours(now: datetime) -> list[Bucket]:
    return [Bucket(h) for h in _hour_starts(now)]


def _empty_days(now: datetime) -> list[Bucket]:
    return [Bucket(d) for d in _day_starts(now)]


def load_lines(*, now: datetime, loads: list[OperatorLoad]) -> list[LoadLine]:
    """Each operator's load at every hour mark of the last CHART_HOURS hours, ending with now; one query.

    The load at a moment is the operator's assignments in the window before it; counted per hour from the
    (operator, assigned_at) index and summed over the window here. Exact at the hour marks (contacts on a
    mark's very second aside), and the last point is the exact load now.
    """
    if not loads:
        return []
    window = timedelta(hours=settings.LOAD_WINDOW_HOURS)
    marks = [h for h in _hour_starts(now)[1:]]
    since = marks[0] - window
    per_hour = (
        # Filtering by the operators lets each one be an index range over (operator, assigned_at).
        Contact.objects.filter(operator_id__in=[row.operator.pk for row in loads], assigned_at__gte=since)
        .annotate(hour=Trunc("assigned_at", "hour", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values_list("operator_id", "hour")
        .annotate(n=Count("pk"))
    )
    counts: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for operator_id, hour, n in per_hour:
        counts[operator_id].append((hour, n))
    lines = []
    for row in loads:
        hourly = counts.get(row.operator.pk, [])
        points = [(mark, sum(n for hour, n in hourly if mark - window <= hour < mark)) for mark in marks]
        lines.append(LoadLine(operator=row.operator, points=[*points, (now, row.load)]))
    return lines


# --- Hand assignment: whom a supervisor may give contacts to ------------------------------------------

# A list page's assign menus (one per row) offer the other operators only while there are this few in all;
# past it a row links to its contact's assign page instead (fifty menus of thousands of operators made
# the contact list 12 MB and 4 s at 6,000 operators).
INLINE_OTHERS_MAX = 100


@dataclass(frozen=True)
class AssignGroup:
    source: Source | None  # None: the operators of none of the sources in question
    rows: list[OperatorLoad]


@dataclass(frozen=True)
class AssignChoices:
    """The operators a supervisor may hand contacts to, with their load now, and who works which source.

    `everyone` is False when only the sources' own operators were read (too many operators for a menu
    on every row, see INLINE_OTHERS_MAX); the menus then leave the other operators to the assign page.
    """

    operators: list[OperatorLoad]  # by name
    members: dict[int, list[int]]  # source id -> ids of its operators, by name
    everyone: bool = True
    # Rendered menus, per language and sources: a list page has one menu per row, most of them alike.
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    def groups(self, sources: Iterable[Source]) -> list[AssignGroup]:
        """The sources' own operators first, a group per source, then (if read) every other operator."""
        by_id = {row.operator.pk: row for row in self.operators}
        groups, seen = [], set()
        for source in {source.pk: source for source in sources}.values():
            ids = self.members.get(source.pk, [])
            groups.append(AssignGroup(source, [by_id[i] for i in ids if i in by_id]))
            seen.update(ids)
        if self.everyone:
            groups.append(AssignGroup(None, [row for row in self.operators if row.operator.pk not in seen]))
        return groups

    def is_member(self, operator_id: int, source_id: int) -> bool:
        return operator_id in self.members.get(source_id, ())


def assign_choices(*, now: datetime, source_ids: Iterable[int], inline: bool = False) -> AssignChoices:
    """Every operator with its load now (only the sources' own when `inline` and there are more than
    INLINE_OTHERS_MAX operators), and which of them work these sources. Two queries; three when `inline`
    finds that many operators."""
    members: dict[int, set[int]] = defaultdict(set)
    weights = SourceOperatorWeight.objects.filter(source_id__in=list(set(source_ids)))
    for source_id, operator_id in weights.values_list("source_id", "operator_id"):
        members[source_id].add(operator_id)
    operators = Operator.objects.with_load(now).only("name", "is_active", "load_limit")
    found = list(operators[: INLINE_OTHERS_MAX + 1] if inline else operators)
    everyone = not inline or len(found) <= INLINE_OTHERS_MAX
    if not everyone:
        found = list(operators.filter(pk__in={op for ids in members.values() for op in ids}))
    rows = [OperatorLoad(operator=op, load=op.load) for op in found]
    order = {row.operator.pk: n for n, row in enumerate(rows)}
    return AssignChoices(
        operators=rows,
        members={
            source: sorted((op for op in ids if op in order), key=order.__getitem__)
            for source, ids in members.items()
        },
        everyone=everyone,
    )


# Newest first, for a search of three characters or more: the matches are found through the trigram
# indexes (PostgreSQL) and then sorted. ORDER BY created_at DESC with a small LIMIT tempts the planner to
# walk the newest-first index hoping to meet matches early, which reads most leads when the matches are
# few or old (190 ms for a third of a million leads); NULLS LAST (a no-op, created_at is never null) is
# an order that index cannot give, so it is not tempted. The staff list and the admin both use it.
SEARCHED_LEADS_ORDER = (F("created_at").desc(nulls_last=True), F("id").desc())


def lead_page(
    *,
    query: str = "",
    source_id: int | None = None,
    operator_id: int | None = None,
    waiting: bool = False,
    page: str | int | None = 1,
) -> Page:
    """Leads newest first, searched over external id and name and filtered by the contacts they have (from
    a source, handled by an operator, waiting); rows are LeadRow with the lead's latest contact. Four queries.

    The count runs over the leads table (with a semi-join for a filter); the contacts count, the last
    contact time and the latest contact are computed for the page's leads only.
    """
    leads = Lead.objects.all()
    if len(query) >= 3:
        leads = leads.filter(Q(external_id__icontains=query) | Q(name__icontains=query)).order_by(
            *SEARCHED_LEADS_ORDER
        )
    elif query:  # too short for trigrams: it matches many leads, and the newest-first index finds 50 soon
        leads = leads.filter(Q(external_id__icontains=query) | Q(name__icontains=query))
    if source_id is not None:
        leads = leads.through_source(source_id)
    if operator_id is not None:
        leads = leads.handled_by(operator_id)
    if waiting:
        leads = leads.waiting()
    # Counting every match of a broad search or filter costs more than the rest of the page (a third of
    # a million leads at 1M contacts): those counts stop at a cap; the plain list's count stays exact.
    narrowed = bool(query) or source_id is not None or operator_id is not None or waiting
    result = (CappedPaginator if narrowed else Paginator)(leads, PAGE_SIZE).get_page(page)
    on_page = list(result.object_list)
    stats, latest = {}, {}
    if on_page:
        ids = [lead.pk for lead in on_page]
        per_lead = (
            Contact.objects.filter(lead_id__in=ids)
            .order_by()
            .values_list("lead_id")
            .annotate(n=Count("pk"), last=Max("created_at"))
        )
        stats = {lead_id: (n, last) for lead_id, n, last in per_lead}
        latest = {contact.lead_id: contact for contact in _latest_contacts(ids)}
    result.object_list = [
        LeadRow(lead, *stats.get(lead.pk, (0, None)), latest=latest.get(lead.pk)) for lead in on_page
    ]
    return result


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows: an exact count of "leads with a contact from this source" reads
    every such contact (hundreds of milliseconds at a million), while a capped one stops early. Pages
    past the cap are not offered; the page says "more than" (see `capped`)."""

    COUNT_CAP = 1_000  # 20 pages: past that, a supervisor narrows the filter rather than pages on

    @cached_property
    def _counted(self) -> int:
        return self.object_list.order_by()[: self.COUNT_CAP + 1].count()

    @property
    def count(self) -> int:
        return min(self._counted, self.COUNT_CAP)

    @property
    def capped(self) -> bool:
        return self._counted > self.COUNT_CAP


def _latest_contacts(lead_ids: list[int]) -> QuerySet[Contact]:
    """Each lead's newest contact, with its source and operator: one query over the (lead, created_at) index."""
    newest_first = [F("created_at").desc(), F("id").desc()]
    return (
        Contact.objects.filter(lead_id__in=lead_ids)
        .annotate(rank=Window(RowNumber(), partition_by=[F("lead_id")], order_by=newest_first))
        .filter(rank=1)
        .select_related("source", "operator")
        .defer("explanation", "request_hash", "idempotency_key")
        .order_by()
    )


def lead_contacts_page(*, lead: Lead, page: str | int | None = 1) -> Page:
    """The lead's contacts, newest first, with source and operator; two queries (count, page)."""
    contacts = Contact.objects.filter(lead=lead).select_related("source", "operator")
    return Paginator(contacts, PAGE_SIZE).get_page(page)


def contact_page(
    *,
    source_id: int | None = None,
    operator_id: int | None = None,
    unassigned: bool = False,
    start: date | None = None,
    end: date | None = None,
    page: str | int | None = 1,
) -> Page:
    """Contacts newest first, filtered; `start` and `end` are inclusive days in the current time zone.

    Three queries: a count over the contacts table alone (select_related is dropped from counts), the
    page with its lead and operator joined, and the page's sources. The explanation is read for its
    path and author only. Sources come in a query of their own: joined, the tiny sources table led
    SQLite's planner to sort every contact of a source instead of reading the newest 50 off the
    (source, created_at) index.
    """
    contacts = Contact.objects.select_related("lead", "operator").prefetch_related("source")
    if source_id is not None:
        contacts = contacts.filter(source_id=source_id)
    if operator_id is not None:
        contacts = contacts.filter(operator_id=operator_id)
    if unassigned:
        contacts = contacts.unassigned()
    contacts = contacts.filter(within_days("created_at", start, end))
    # As for leads: a filter's count stops at a cap (every contact of a busy source is most of the table).
    narrowed = unassigned or any(value is not None for value in (source_id, operator_id, start, end))
    return (CappedPaginator if narrowed else Paginator)(contacts, PAGE_SIZE).get_page(page)


def queue_page(*, page: str | int | None = 1) -> Page:
    """The waiting contacts (no operator) oldest first, the order the router takes them in, with lead and
    source; three queries (count and page over the partial index of waiting contacts, the page's sources)."""
    waiting = (
        Contact.objects.unassigned()
        .order_by("created_at", "id")
        .select_related("lead")
        .prefetch_related("source")
        .defer("explanation", "request_hash", "idempotency_key")
    )
    return Paginator(waiting, PAGE_SIZE).get_page(page)


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


# --- History of configuration changes (django-simple-history) ----------------------------------------


@dataclass(frozen=True)
class Change:
    kind: str  # "operator", "source" or "weight"
    at: datetime
    user: str  # who made it: a user name, "api:<key name>" for the API, "" for a command
    action: str  # "+" created, "~" changed, "-" deleted (simple-history's history_type)
    operator_id: int | None
    source_id: int | None
    fields: list[FieldChange]


def _history_models() -> dict[str, type]:
    return {
        "operator": Operator.history.model,
        "source": Source.history.model,
        "weight": SourceOperatorWeight.history.model,
    }


API_AUTHOR = "api:"  # how a change through the API names its key (integrations.services.name_the_api_key)


def change_authors() -> list[str]:
    """Who made the recorded changes: user names, and "api:<key name>" for changes through the API; two
    queries over the three history tables."""
    tables = _history_models().values()
    made_by = Q()
    for table in tables:
        made_by |= Q(pk__in=table.objects.filter(history_user__isnull=False).values("history_user_id"))
    users = get_user_model().objects.filter(made_by)
    reasons = [
        table.objects.filter(history_user__isnull=True, history_change_reason__startswith=API_AUTHOR)
        .order_by()
        .values_list("history_change_reason", flat=True)
        for table in tables
    ]
    keys = set(reasons[0].union(*reasons[1:]))
    return sorted(users.values_list("username", flat=True)) + sorted(keys)


def change_page(
    *,
    operator_id: int | None = None,
    source_id: int | None = None,
    who: str = "",
    start: date | None = None,
    end: date | None = None,
    page: str | int | None = 1,
) -> Page:
    """Changes to operators, sources and weights, newest first, optionally about one operator and/or one
    source (both: the weights between them), made by `who` (a user name, or "api:<key name>"), between the
    days `start` and `end` (inclusive, in the current time zone); rows are Change. At most eight queries: a
    count and a page of (kind, id, time) over the three history tables together, then per kind on the page
    its records with their users and the records just before them (to tell old from new values).
    """
    tables = _history_models()
    common = Q()
    if who.startswith(API_AUTHOR):
        common &= Q(history_user__isnull=True, history_change_reason=who)
    elif who:
        common &= Q(history_user__username=who)
    common &= within_days("history_date", start, end)
    parts = {
        "operator": tables["operator"].objects.filter(common, **({"id": operator_id} if operator_id else {})),
        "source": tables["source"].objects.filter(common, **({"id": source_id} if source_id else {})),
        "weight": tables["weight"].objects.filter(
            common,
            **({"operator_id": operator_id} if operator_id else {}),
            **({"source_id": source_id} if source_id else {}),
        ),
    }
    if source_id:  # an operator's own changes are not about any one source, and the other way round
        parts.pop("operator")
    if operator_id:
        parts.pop("source")
    keyed = [
        qs.order_by()
        .annotate(kind=Value(kind, output_field=CharField()))
        .values_list("kind", "history_id", "history_date")
        for kind, qs in parts.items()
    ]
    combined = keyed[0].union(*keyed[1:], all=True).order_by("-history_date", "-history_id")
    result = Paginator(combined, PAGE_SIZE).get_page(page)
    on_page = list(result.object_list)
    wanted: dict[str, list[int]] = defaultdict(list)
    for kind, history_id, _ in on_page:
        wanted[kind].append(history_id)
    records: dict[tuple[str, int], Change] = {}
    for kind, ids in wanted.items():
        for change in _changes(tables[kind], kind, ids):
            records[kind, change[0]] = change[1]
    result.object_list = [records[kind, history_id] for kind, history_id, _ in on_page]
    return result


def _changes(table: type, kind: str, history_ids: list[int]) -> list[tuple[int, Change]]:
    """The records with these ids as Change rows: two queries (the records with users, their predecessors)."""
    before = table.objects.filter(id=OuterRef("id"), history_id__lt=OuterRef("history_id")).order_by(
        "-history_id"
    )
    rows = list(
        table.objects.filter(history_id__in=history_ids)
        .select_related("history_user")
        .annotate(previous_id=Subquery(before.values("history_id")[:1]))
    )
    previous = table.objects.in_bulk(
        [row.previous_id for row in rows if row.previous_id], field_name="history_id"
    )
    changes = []
    for row in rows:
        fields = field_changes(kind, row, previous.get(row.previous_id))
        changes.append(
            (
                row.history_id,
                Change(
                    kind=kind,
                    at=row.history_date,
                    user=author(row),
                    action=row.history_type,
                    operator_id=row.id if kind == "operator" else getattr(row, "operator_id", None),
                    source_id=row.id if kind == "source" else getattr(row, "source_id", None),
                    fields=fields,
                ),
            )
        )
    return changes
