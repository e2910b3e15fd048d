"""Operators' loads now, as every page shows them (the rules are crm.eligibility's), and the queue per source."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    Count,
    F,
    Min,
    Q,
    Window,
)
from django.db.models.functions import RowNumber

from crm import eligibility
from crm.choices import Presence
from crm.models import Contact, Operator

PAGE_SIZE = 50
# What a page reads of each operator: what it shows and what decides whether the operator can be reached.
OPERATOR_ROW = (
    "name",
    "is_active",
    "load_limit",
    "presence",
    "presence_reason",
    "presence_until",
    "timezone",
    "scheduled",
    "shift_starts_at",
    "shift_ends_at",
)


@dataclass(frozen=True)
class OperatorLoad:
    operator: Operator
    load: int
    # When a full operator's next slot frees (its oldest counted assignment leaves the window); None when
    # it is not full, or never frees because its limit is 0.
    frees_at: datetime | None = None
    # At the moment the row was read: switched on, on shift and available (crm.eligibility.reachable).
    reachable: bool = True
    on_shift: bool = True

    @classmethod
    def of(cls, operator: Operator, *, now: datetime, frees_at: datetime | None = None) -> "OperatorLoad":
        """The row of an operator read with its `load` annotated, as it stands at `now`."""
        shift = eligibility.on_shift(
            scheduled=operator.scheduled,
            starts=operator.shift_starts_at,
            ends=operator.shift_ends_at,
            now=now,
        )
        return cls(operator, operator.load, frees_at, eligibility.reachable(operator, now), shift)

    @property
    def ready_at(self) -> datetime | None:
        """When a switched-on operator who cannot take a contact now will be able to: the latest of its
        shift's start, its return from away, its next free slot, whichever hold it back; None when one of
        them has no end in sight (offline, away with no return time, no shift ahead, a limit of 0)."""
        op = self.operator
        if not op.is_active:
            return None
        waits = []
        if not self.on_shift:
            waits.append(op.shift_starts_at)
        if op.presence != Presence.AVAILABLE:
            waits.append(op.presence_until)
        if self.is_full:
            waits.append(self.frees_at)
        return None if not waits or None in waits else max(waits)

    @property
    def percent(self) -> int:
        """How full the operator is, 0..100 (a limit of 0 counts as full)."""
        limit = self.operator.load_limit
        return min(100, round(100 * self.load / limit)) if limit else 100

    @property
    def is_full(self) -> bool:
        """At or over the limit: takes no contact now (the API's is_full)."""
        return eligibility.is_full(self.load, self.operator.load_limit)

    @property
    def over_limit(self) -> bool:
        """Past the limit (an override, or a limit lowered under the load): shown apart from full."""
        return eligibility.is_over(self.load, self.operator.load_limit)

    @property
    def state(self) -> str:
        return eligibility.load_state(self.load, self.operator.load_limit)

    @property
    def free(self) -> int:
        """Contacts the operator can still take now (0 when switched off, off shift, away or offline)."""
        return eligibility.free_slots(
            load=self.load, limit=self.operator.load_limit, reachable=self.reachable
        )


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

    @classmethod
    def of_all(cls, queues: Iterable["Waiting"]) -> "Waiting":
        """Several sources' queues as one."""
        queues = list(queues)
        oldest = [q.oldest for q in queues if q.oldest]
        return cls(
            count=sum(q.count for q in queues),
            oldest=min(oldest) if oldest else None,
            too_old=sum(q.too_old for q in queues),
        )


def operator_loads(*, now: datetime, source_id: int | None = None) -> list[OperatorLoad]:
    """Every operator (active or not; or the source's) with its load in the window, by name, and for full
    operators when their next slot frees; one query, two when someone is full."""
    operators = Operator.objects.with_load(now)
    if source_id is not None:
        operators = operators.filter(weights__source_id=source_id)
    operators = list(operators)
    frees_at = freeing_times(now=now, operators=operators)
    return [OperatorLoad.of(op, now=now, frees_at=frees_at.get(op.pk)) for op in operators]


def freeing_times(*, now: datetime, operators: list[Operator]) -> dict[int, datetime]:
    """When each of these operators (with `load` annotated) that is active and full drops below its limit:
    its (load − limit + 1)-th oldest assignment in the window leaves it (the oldest one, unless an override
    or a lowered limit put it over). One query, none when nobody is full; a limit of 0 never frees."""
    needed = {
        op.pk: op.load - op.load_limit + 1
        for op in operators
        if op.is_active and op.load_limit > 0 and eligibility.is_full(op.load, op.load_limit)
    }
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
    return {op: eligibility.leaves_window(at) for op, rank, at in ranked if rank == needed[op]}


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


def percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0
