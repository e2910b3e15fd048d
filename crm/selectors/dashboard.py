"""The staff dashboard: every source summed up in SQL, the sources and the operators shown a page at a time,
whatever their number."""

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import (
    Count,
    Max,
    Q,
    Sum,
)

from crm import eligibility
from crm.choices import Presence
from crm.models import Contact, Operator, Source, SourceOperatorWeight, WorkerBeat
from crm.selectors.charts import Bucket, LoadLine, arrivals, empty_hours, load_lines
from crm.selectors.loads import (
    OPERATOR_ROW,
    OperatorLoad,
    OperatorShare,
    Waiting,
    freeing_times,
    percent,
    waiting_by_source,
)
from crm.selectors.outcomes import Outcomes, outcomes

OPERATORS_PER_PAGE = 50
# Hundreds of sources are hundreds of rows in each of two tables (capacity, who answers): a page of them at
# a time, fewer than operators, as each is two rows.
SOURCES_PER_PAGE = 25
# The worker passes every few seconds (distribution.worker); silent this long, it is not running.
WORKER_SILENT_AFTER = timedelta(minutes=1)


@dataclass(frozen=True)
class SourceSummary:
    """A source's capacity now, summed up in SQL over its operators (none of them is loaded for it); a
    source nobody can take contacts from also names its full and switched-off operators."""

    source: Source
    operators: int  # weighted operators
    active: int  # of them, switched on
    on_shift: int  # of those, on shift now
    present: int  # of those, available
    free: int  # free slots now: over the reachable operators, limit − load where positive
    total_weight: int
    waiting: Waiting
    # Only when blocked: its switched-on operators who cannot take a contact now, and its switched-off ones.
    held: list[OperatorLoad] = field(default_factory=list)
    inactive: list[Operator] = field(default_factory=list)

    @property
    def blocked(self) -> str:
        reason = eligibility.nobody_because(
            operators=self.operators,
            active=self.active,
            on_shift=self.on_shift,
            present=self.present,
            able=self.free,
        )
        return reason or ""

    @property
    def full(self) -> list[OperatorLoad]:
        return [row for row in self.held if row.reachable and row.is_full]

    @property
    def off_shift(self) -> list[OperatorLoad]:
        return [row for row in self.held if not row.on_shift]

    @property
    def away(self) -> list[OperatorLoad]:
        return [row for row in self.held if row.on_shift and row.operator.presence != Presence.AVAILABLE]

    @property
    def next_free(self) -> OperatorLoad | None:
        """When nobody can take a contact: the operator who can first, by a slot freeing, a shift starting or
        a return from away (None when nobody's wait has an end in sight)."""
        ready = [row for row in self.held if row.ready_at is not None]
        return min(ready, key=lambda row: row.ready_at) if ready and not self.free else None


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
    sources: list[SourceSummary]  # every source, by name (the alerts and the queue's totals count them all)
    source_page: Page  # of SourceSummary, by name: the search's page of the capacity and answers tables
    operators: Page  # of OperatorLoad, by name: the search's page
    load_lines: list[LoadLine]  # of the page's operators
    shares: list[SourceShares]  # the sources of the page's operators, by name
    worker_last_pass: datetime | None = None  # the latest pass of any worker (manage.py run_worker)
    # Who answers and how fast in the window (crm.selectors.outcomes): per source and per operator of the pages.
    source_outcomes: dict[int, Outcomes] = field(default_factory=dict)
    operator_outcomes: dict[int, Outcomes] = field(default_factory=dict)

    @property
    def source_answers(self) -> list[tuple[Source, Outcomes | None]]:
        """The sources of the capacity table's page (the reports list all)."""
        return [(s.source, self.source_outcomes.get(s.source.pk)) for s in self.source_page]

    @property
    def operator_answers(self) -> list[tuple[Operator, Outcomes | None]]:
        return [(row.operator, self.operator_outcomes.get(row.operator.pk)) for row in self.operators]

    @property
    def worker_silent(self) -> bool:
        """No worker has finished a pass for WORKER_SILENT_AFTER: nothing timed happens (returns from away,
        shift starts, the queue's drain)."""
        return self.worker_last_pass is None or self.now - self.worker_last_pass > WORKER_SILENT_AFTER

    @property
    def waiting(self) -> Waiting:
        return Waiting.of_all(s.waiting for s in self.sources)

    @property
    def blocked(self) -> list[SourceSummary]:
        return [s for s in self.sources if s.blocked]


def dashboard_page(
    *,
    now: datetime,
    operator_query: str = "",
    operator_source: int | None = None,
    operator_page: str | int | None = 1,
    source_query: str = "",
    source_page: str | int | None = 1,
) -> DashboardPage:
    """The staff dashboard for one moment, in a fixed number of queries however many operators there are:
    every source's capacity summed up in SQL and shown 25 a page (searched by name), and the operators 50 a
    page (searched by name, or those of one source) with their loads over the day and their shares of the
    sources they work."""
    sources = source_summaries(now=now)
    wanted = source_query.casefold()
    found = [s for s in sources if wanted in s.source.name.casefold()] if wanted else sources
    shown_sources = Paginator(found, SOURCES_PER_PAGE).get_page(source_page)
    operators = Operator.objects.only(*OPERATOR_ROW)
    if operator_query:
        operators = operators.filter(name__icontains=operator_query)
    if operator_source is not None:
        operators = operators.filter(weights__source_id=operator_source)
    page = Paginator(operators, OPERATORS_PER_PAGE).get_page(operator_page)
    # The loads of the page's operators only: annotated on the page's query itself, PostgreSQL counts the
    # load of every operator the OFFSET skips too (3,000 of them on the 60th page).
    on_page = list(
        Operator.objects.with_load(now).only(*OPERATOR_ROW).filter(pk__in=page.object_list.values("pk"))
    )
    frees_at = freeing_times(now=now, operators=on_page)
    page.object_list = [OperatorLoad.of(op, now=now, frees_at=frees_at.get(op.pk)) for op in on_page]
    return DashboardPage(
        now=now,
        sources=sources,
        source_page=shown_sources,
        operators=page,
        load_lines=load_lines(now=now, loads=page.object_list),
        shares=_shares(now=now, loads=page.object_list, sources={s.source.pk: s for s in sources}),
        worker_last_pass=WorkerBeat.objects.aggregate(latest=Max("last_pass_at"))["latest"],
        operator_outcomes=outcomes(
            by="operator", since=eligibility.window_start(now), ids=[op.pk for op in on_page]
        ),
        source_outcomes=outcomes(
            by="source", since=eligibility.window_start(now), ids=[s.source.pk for s in shown_sources]
        ),
    )


def source_summaries(*, now: datetime) -> list[SourceSummary]:
    """Every source's operators, active operators, free slots and queue, by name; three queries, and two
    more when a source is blocked (its full and switched-off operators, when their slots free)."""
    load = eligibility.load_of("operator", now=now)
    active = Q(operator__is_active=True)
    on_shift = active & eligibility.on_shift_q(now, prefix="operator__")
    present = on_shift & eligibility.present_q(prefix="operator__")
    per_source = {
        row["source_id"]: row
        for row in SourceOperatorWeight.objects.order_by()
        .values("source_id")
        .annotate(
            operators=Count("pk"),
            active=Count("pk", filter=active),
            on_shift=Count("pk", filter=on_shift),
            present=Count("pk", filter=present),
            free=Sum(eligibility.free_slots_of(load, now=now, prefix="operator__")),
            total_weight=Sum("weight"),
        )
    }
    waiting = waiting_by_source(now=now)
    summaries = [
        SourceSummary(
            source=source,
            operators=per_source.get(source.pk, {}).get("operators", 0),
            active=per_source.get(source.pk, {}).get("active", 0),
            on_shift=per_source.get(source.pk, {}).get("on_shift", 0),
            present=per_source.get(source.pk, {}).get("present", 0),
            free=per_source.get(source.pk, {}).get("free") or 0,
            total_weight=per_source.get(source.pk, {}).get("total_weight") or 0,
            waiting=waiting.get(source.pk, Waiting()),
        )
        for source in Source.objects.only("name")
    ]
    blocked = [s for s in summaries if s.blocked and s.operators]
    if not blocked:
        return summaries
    # Only the blocked sources' operators: their alert names who is off shift, away, full or switched off.
    weights = (
        SourceOperatorWeight.objects.filter(source_id__in=[s.source.pk for s in blocked])
        .select_related("operator")
        .annotate(load=load)
        .order_by("operator__name", "operator_id")
    )
    by_source: dict[int, list[Operator]] = defaultdict(list)
    operators: dict[int, Operator] = {}
    for weight in weights:
        weight.operator.load = weight.load
        operators[weight.operator_id] = weight.operator
        by_source[weight.source_id].append(weight.operator)
    frees_at = freeing_times(now=now, operators=list(operators.values()))
    blocked_ids = {s.source.pk for s in blocked}
    return [
        replace(
            s,
            held=[
                OperatorLoad.of(op, now=now, frees_at=frees_at.get(op.pk))
                for op in by_source[s.source.pk]
                if op.is_active
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
        # Through the index of the moments contacts were given (contact_given): the window's entries only.
        Contact.objects.in_window(now)
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
                weight_share=percent(weight_of.get(op, 0), summary.total_weight),
                contacts=count_of.get(op, 0),
                actual_share=percent(count_of.get(op, 0), assigned.get(source_id, 0)),
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
                hours=hours.get(source_id) or empty_hours(now),
            )
        )
    return result
