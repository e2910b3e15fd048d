"""Who answers and how fast: per operator or per source, what happened in a period (the dashboard's window,
a report's days). One definition for both.

Each figure counts the events that happened in the period [since, until):
- assigned: contacts given to the operator then (by `assigned_at`) that are still theirs; a contact passed
  on to someone else counts for whoever holds it;
- offered, accepted, declined, expired: offers made (`offered_at`), and ended so (`ended_at`);
- closed: contacts closed then (`closed_at`);
- time to accept: from an offer to its accept, for the offers accepted in the period (a supervisor's pick,
  accepted the moment it is made, is left out: nobody answered it);
- time to close: from being given (`assigned_at`) to closed, for the contacts closed in the period.

Medians and 90th percentiles interpolate between the two nearest values, as PostgreSQL's percentile_cont
does: computed there in SQL; on SQLite (development) from the durations in Python, by the same rule.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, FloatField, Q, QuerySet
from django.db.models.functions import Extract

from crm.choices import OfferOutcome
from crm.models import Contact, Offer

PERCENTILES = (0.5, 0.9)


@dataclass
class Outcomes:
    """One operator's or source's figures for a period (see the module)."""

    assigned: int = 0
    offered: int = 0
    accepted: int = 0
    declined: int = 0
    expired: int = 0
    closed: int = 0
    # Seconds, by PERCENTILES: {0.5: median, 0.9: 90th percentile}; empty when nothing was accepted/closed.
    to_accept: dict[float, float] = field(default_factory=dict)
    to_close: dict[float, float] = field(default_factory=dict)

    @property
    def accept_median(self) -> timedelta | None:
        return _seconds(self.to_accept.get(0.5))

    @property
    def accept_p90(self) -> timedelta | None:
        return _seconds(self.to_accept.get(0.9))

    @property
    def close_median(self) -> timedelta | None:
        return _seconds(self.to_close.get(0.5))

    @property
    def close_p90(self) -> timedelta | None:
        return _seconds(self.to_close.get(0.9))


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def outcomes(
    *, by: str, since: datetime, until: datetime | None = None, ids: Sequence[int] | None = None
) -> dict[int, Outcomes]:
    """{operator or source id: Outcomes} for the period [since, until) (no end: up to now), `by` "operator"
    or "source", only `ids` if given. Five grouped queries, whatever the number of contacts (ids absent from
    the answer had nothing)."""
    key = f"{by}_id"
    found: dict[int, Outcomes] = defaultdict(Outcomes)

    def scoped(queryset: QuerySet, moment: str) -> QuerySet:
        queryset = queryset.filter(**{f"{moment}__gte": since})
        if until is not None:
            queryset = queryset.filter(**{f"{moment}__lt": until})
        if ids is not None:
            queryset = queryset.filter(**{f"{key}__in": list(ids)})
        return queryset.exclude(**{f"{key}__isnull": True}).order_by()

    for owner, n in scoped(Contact.objects, "assigned_at").values_list(key).annotate(n=Count("pk")):
        found[owner].assigned = n
    # Offered in the period: ended since its start, or still pending (an offer ends after it was made). Said
    # again so that the two partial indexes serve it instead of a scan of every offer ever made.
    offered = scoped(Offer.objects, "offered_at").filter(
        Q(ended_at__gte=since) | Q(outcome=OfferOutcome.PENDING)
    )
    for owner, n in offered.values_list(key).annotate(n=Count("pk")):
        found[owner].offered = n
    ended = scoped(Offer.objects, "ended_at").values_list(key, "outcome").annotate(n=Count("pk"))
    for owner, outcome, n in ended:
        if outcome in (OfferOutcome.ACCEPTED, OfferOutcome.DECLINED, OfferOutcome.EXPIRED):
            setattr(found[owner], outcome, n)
    answered = scoped(Offer.objects, "ended_at").filter(
        outcome=OfferOutcome.ACCEPTED, ended_at__gt=F("offered_at")
    )
    for owner, (values, _) in _percentiles(answered, key, "offered_at", "ended_at").items():
        found[owner].to_accept = values
    # The contacts closed are counted by the same read as their times to close (every closed contact was
    # given: it has both moments).
    closed = scoped(Contact.objects, "closed_at")
    for owner, (values, n) in _percentiles(closed, key, "assigned_at", "closed_at").items():
        found[owner].to_close, found[owner].closed = values, n
    return dict(found)


class PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


def _percentiles(
    queryset: QuerySet, key: str, start: str, end: str
) -> dict[int, tuple[dict[float, float], int]]:
    """{owner: ({fraction: seconds}, how many)} of the durations end − start over the queryset's rows."""
    if connection.vendor == "postgresql":
        seconds = Extract(ExpressionWrapper(F(end) - F(start), output_field=DurationField()), "epoch")
        aggregates = {f"p{int(q * 100)}": PercentileCont(seconds, q) for q in PERCENTILES}
        rows = queryset.values(key).annotate(n=Count("pk"), **aggregates)
        return {row[key]: ({q: row[f"p{int(q * 100)}"] for q in PERCENTILES}, row["n"]) for row in rows}
    durations: dict[int, list[float]] = defaultdict(list)
    for owner, began, ended in queryset.values_list(key, start, end).iterator(chunk_size=2000):
        durations[owner].append((ended - began).total_seconds())
    return {
        owner: ({q: percentile(values, q) for q in PERCENTILES}, len(values))
        for owner, values in durations.items()
    }


def percentile(values: list[float], fraction: float) -> float:
    """percentile_cont's rule: the value at position fraction × (n − 1) of the sorted values, interpolated
    between its two neighbours."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)
