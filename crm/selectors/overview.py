"""Every source with every one of its operators, as the API's /stats and /sources/{id} answer: the overview
the dashboard showed before it was paged (a source's figures, its operators' loads, weight against actual share)."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import (
    Count,
)

from crm import eligibility
from crm.choices import Presence
from crm.models import Contact, Source
from crm.selectors.charts import Bucket, LoadLine, arrivals, empty_hours, load_lines
from crm.selectors.loads import (
    OperatorLoad,
    OperatorShare,
    Waiting,
    operator_loads,
    percent,
    waiting_by_source,
)


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
        """Free slots now: the sum over the source's reachable operators of limit − load."""
        return sum(row.free for row in self.operators)

    @property
    def blocked(self) -> str:
        """Why nobody can take this source's contacts now (an UnassignedReason), or "" when someone can."""
        active = [row for row in self.operators if row.operator.is_active]
        on_shift = [row for row in active if row.on_shift]
        reason = eligibility.nobody_because(
            operators=len(self.operators),
            active=len(active),
            on_shift=len(on_shift),
            present=sum(1 for row in on_shift if row.operator.presence == Presence.AVAILABLE),
            able=self.free,
        )
        return reason or ""

    @property
    def full(self) -> list[OperatorLoad]:
        return [row for row in self.operators if row.reachable and row.is_full]

    @property
    def inactive(self) -> list[OperatorLoad]:
        return [row for row in self.operators if not row.operator.is_active]

    @property
    def next_free(self) -> OperatorLoad | None:
        """When nobody can take a contact: the operator who can first (a slot freeing, a shift starting, a
        return from away); None when nobody's wait has an end in sight."""
        if self.free:
            return None
        ready = [row for row in self.operators if row.ready_at is not None]
        return min(ready, key=lambda row: row.ready_at) if ready else None


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    loads: list[OperatorLoad]
    sources: list[SourceOverview]
    load_lines: list[LoadLine]

    @property
    def waiting(self) -> Waiting:
        return Waiting.of_all(s.waiting for s in self.sources)

    @property
    def blocked(self) -> list[SourceOverview]:
        return [s for s in self.sources if s.blocked]


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
                weight_share=percent(weights.get(operator_id, 0), total_weight),
                contacts=per_operator.get(operator_id, 0),
                actual_share=percent(per_operator.get(operator_id, 0), assigned),
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
                hours=hours.get(source.pk) or empty_hours(now),
            )
        )
    return result
