"""Who can take a contact now: switched on, on shift, present (available), a weight for the source, and under
the limit over the rolling load window; full and free; and why a contact waits when nobody can.

The one definition of these rules. Everything else derives from here: the intake's SQL statements
(distribution.sql), the ORM's annotations and filters (OperatorQuerySet.with_load, the admin's weight
inline, the dashboard's sums), the dashboard's full / free / blocked, the load lines, the API's figures,
and the draw itself (distribution.selection). Plain data and functions: no queries, so the pure selection
code uses them too. A new rule is a field of Candidate and a line of `exclusion` (and of `nobody_because`
when it can leave everyone out).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Case, Count, Expression, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from crm.choices import Exclusion, LoadState, Presence, UnassignedReason

# A contact counts towards its operator's load while its assignment is *after* the window's start: the
# lookup every query uses (the ORM as `assigned_at__gt`, the SQL statements as its operator).
WINDOW_LOOKUP = "gt"


def window_start(now: datetime | None = None) -> datetime:
    """Start of the rolling load window: contacts assigned after it count towards an operator's load."""
    return (now or timezone.now()) - timedelta(hours=settings.LOAD_WINDOW_HOURS)


def in_window(now: datetime | None = None, *, prefix: str = "") -> Q:
    """The contacts (through `prefix`, e.g. "contacts__") that count towards their operator's load now."""
    return Q(**{f"{prefix}assigned_at__{WINDOW_LOOKUP}": window_start(now)})


def leaves_window(assigned_at: datetime) -> datetime:
    """When a contact assigned at that moment stops counting (its operator's slot frees)."""
    return assigned_at + timedelta(hours=settings.LOAD_WINDOW_HOURS)


def epoch_hour(moment: datetime) -> int:
    """The UTC hour a moment falls in, as whole hours since the Unix epoch: the key of crm.models.LoadHour,
    which the triggers compute in SQL the same way."""
    return int(moment.timestamp()) // 3600


def whole_hours_after(since: datetime) -> datetime:
    """The end of the window's first hour: contacts assigned after `since` and before this are counted one by
    one; those from this on are in the hourly totals (LoadHour) of the hours after `since`'s."""
    return datetime.fromtimestamp((epoch_hour(since) + 1) * 3600, tz=UTC)


def is_full(load: int, limit: int) -> bool:
    """At (or, after an override, over) the limit: no further contact. A limit of 0 is always full."""
    return load >= limit


def is_over(load: int, limit: int) -> bool:
    """Past the limit: only a supervisor's override (or a limit lowered since) puts an operator there."""
    return load > limit


def load_state(load: int, limit: int) -> LoadState | str:
    """How the load stands against the limit, when it is not below it ("" then): full, or over the limit."""
    if is_over(load, limit):
        return LoadState.OVER_LIMIT
    return LoadState.FULL if is_full(load, limit) else ""


def on_shift(*, scheduled: bool, starts: datetime | None, ends: datetime | None, now: datetime) -> bool:
    """Whether the operator's shift holds `now`: always without a schedule; else within the cached shift
    [starts, ends) that crm.shifts keeps on the operator's row (none in sight: off shift)."""
    return not scheduled or (starts is not None and starts <= now < ends)


def reachable(operator, now: datetime) -> bool:
    """Whether an operator (a model instance) can be given contacts now, its load aside: switched on, on
    shift and available."""
    return (
        operator.is_active
        and operator.presence == Presence.AVAILABLE
        and on_shift(
            scheduled=operator.scheduled,
            starts=operator.shift_starts_at,
            ends=operator.shift_ends_at,
            now=now,
        )
    )


def free_slots(*, load: int, limit: int, reachable: bool) -> int:
    """Contacts the operator can still take now (0 when it cannot be reached: switched off, off shift,
    away or offline)."""
    return max(0, limit - load) if reachable else 0


# --- The same rules as ORM expressions, for pages that count in SQL (the dashboard, the admin) ----------


def load_of(operator: str = "pk", *, now: datetime | None = None) -> Expression:
    """An operator's load now, for each row of a queryset whose field `operator` is the operator's id: a
    count of its contacts in the window (one index range over (operator, assigned_at) per row)."""
    from crm.models import Contact  # the models import these rules

    counted = (
        Contact.objects.filter(in_window(now), operator=OuterRef(operator))
        .order_by()
        .values("operator")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted), Value(0))


def on_shift_q(now: datetime, *, prefix: str = "") -> Q:
    """on_shift in SQL, for the operators through `prefix` (e.g. "operator__")."""
    return Q(**{f"{prefix}scheduled": False}) | Q(
        **{f"{prefix}shift_starts_at__lte": now, f"{prefix}shift_ends_at__gt": now}
    )


def present_q(*, prefix: str = "") -> Q:
    return Q(**{f"{prefix}presence": Presence.AVAILABLE})


def reachable_q(now: datetime, *, prefix: str = "") -> Q:
    """reachable in SQL: switched on, on shift and available."""
    return Q(**{f"{prefix}is_active": True}) & on_shift_q(now, prefix=prefix) & present_q(prefix=prefix)


def free_slots_of(load: Expression, *, now: datetime, prefix: str = "") -> Expression:
    """free_slots in SQL: limit − load where positive, for an operator reachable now."""
    limit = F(f"{prefix}load_limit")
    return Case(
        When(reachable_q(now, prefix=prefix), then=Greatest(limit - load, Value(0))), default=Value(0)
    )


@dataclass(frozen=True)
class Candidate:
    """One of a source's operators as the choice sees it. `load` is None until it has been counted."""

    operator_id: int
    weight: int
    limit: int
    active: bool = True
    load: int | None = None
    name: str = ""
    presence: str = Presence.AVAILABLE
    on_shift: bool = True
    # Declined this contact or let its offer expire in the current round (distribution.offers).
    passed: bool = False
    # Holds every skill required (the source's and the contact's) / the preferred ones while they apply.
    skilled: bool = True
    preferred: bool = True
    # Round robin: when it was last given one of the source's contacts (None: never).
    last_given: datetime | None = None

    def with_load(self, load: int, **reread) -> "Candidate":
        """The candidate as counted: its load, and whatever was re-read with it (limit, active, weight,
        presence, on_shift).

        A copy of its fields, not dataclasses.replace: that runs __init__ again (4 µs against 0.7), and a
        flood counts every one of the source's candidates for every contact (router._skip_full)."""
        if unknown := reread.keys() - self.__dataclass_fields__.keys():
            raise TypeError(f"Candidate has no field {', '.join(sorted(unknown))}")
        counted = object.__new__(Candidate)
        counted.__dict__.update(self.__dict__, load=load, **reread)
        return counted


def is_there(candidate: Candidate) -> bool:
    """Switched on, one of the source's operators, on shift and available: the first rules of exclusion's,
    before skills, offers and capacity."""
    return (
        candidate.active
        and candidate.weight > 0
        and candidate.on_shift
        and candidate.presence == Presence.AVAILABLE
    )


def exclusion(candidate: Candidate) -> Exclusion | None:
    """Why the candidate cannot take a contact, or None while it still may (its load may be uncounted).
    In the order the rules apply (docs: the filters): availability (switched on, a member of the source,
    on shift, present), required skills, whether it passed on this contact already (offers), capacity (the
    hard limit), then preferred skills; the strategy then chooses among those left."""
    if not candidate.active:
        return Exclusion.INACTIVE
    if candidate.weight <= 0:
        return Exclusion.NO_WEIGHT
    if not candidate.on_shift:
        return Exclusion.OFF_SHIFT
    if candidate.presence != Presence.AVAILABLE:
        return Exclusion(candidate.presence)  # away or offline: the same codes
    if not candidate.skilled:
        return Exclusion.NO_SKILLS
    if candidate.passed:
        return Exclusion.PASSED
    if candidate.limit <= 0 or (candidate.load is not None and is_full(candidate.load, candidate.limit)):
        return Exclusion.AT_LIMIT
    if not candidate.preferred:
        return Exclusion.NOT_PREFERRED
    return None


def waiting_reason(candidates: Iterable[Candidate]) -> UnassignedReason | None:
    """Why nobody can take a contact of the source (None when someone can)."""
    candidates = [
        c for c in candidates if c.weight > 0
    ]  # removed from the source meanwhile: not its operator
    active = [c for c in candidates if c.active]
    on_shift_now = [c for c in active if c.on_shift]
    present = [c for c in on_shift_now if c.presence == Presence.AVAILABLE]
    skilled = [c for c in present if c.skilled]
    able = [
        c
        for c in skilled
        if not c.passed and c.limit > 0 and not (c.load is not None and is_full(c.load, c.limit))
    ]
    return nobody_because(
        operators=len(candidates),
        active=len(active),
        on_shift=len(on_shift_now),
        present=len(present),
        skilled=len(skilled),
        fresh=sum(1 for c in skilled if not c.passed),
        able=len(able),
        preferred=sum(1 for c in able if c.preferred),
    )


def nobody_because(
    *,
    operators: int,
    active: int,
    on_shift: int,
    present: int,
    able: int,
    skilled: int | None = None,
    fresh: int | None = None,
    preferred: int | None = None,
) -> UnassignedReason | None:
    """Why nobody can take a source's contacts, from its operators counted: all of them, the active ones, of
    those the ones on shift, of those the available ones, of those the ones that have not passed on this
    contact (`fresh`: offers; a source as a whole has none), and those who can take one now (None when
    some can). The first rule that leaves everyone out, in the order the rules apply; the dashboard counts
    the same in SQL."""
    if not operators:
        return UnassignedReason.NO_OPERATORS
    if not active:
        return UnassignedReason.ALL_INACTIVE
    if not on_shift:
        return UnassignedReason.NOBODY_ON_SHIFT
    if not present:
        return UnassignedReason.NOBODY_AVAILABLE
    if skilled is not None and not skilled:
        return UnassignedReason.NOBODY_WITH_SKILLS
    if fresh is not None and not fresh:
        return UnassignedReason.NOBODY_ACCEPTED
    if not able:
        return UnassignedReason.ALL_AT_LIMIT
    if preferred is not None and not preferred:
        return UnassignedReason.WAITING_FOR_PREFERRED
    return None
