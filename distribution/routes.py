"""A source's route (the source with its operators, as the token check reads them), and what one worker
process remembers between requests only to save round trips (`memory`).

The webhook's first statement reads the route of the caller's token (sql.authenticate). A worker that has
met a token before assumes the route it read last time and sends the token check along with the contact's
first statements instead (intake, batching.Trip): the token and the route's version (crm.models.RouteChange,
which triggers move whenever something the route reads changes: an operator added, a weight, limit, flag,
name or skill changed). A token rotated or removed, or another version, rolls the transaction back to run
again on the route read anew.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from crm import eligibility
from crm.choices import Strategy
from crm.eligibility import Candidate
from crm.models import Operator, RouteChange, Source
from distribution import db, sql


@dataclass(frozen=True)
class Route:
    """A source with its operators, as the route's statement read them (`rows`, sql's authenticate) for the
    token `digest`.

    `operators` are the candidates as if every shift held; `shifts` the scheduled ones' cached shifts
    (index into operators, start, end), so that a route remembered across requests is read at each one's
    own moment (`candidates`)."""

    source: Source
    operators: tuple[Candidate, ...]
    rows: tuple[tuple, ...] = ()
    digest: str = ""
    shifts: tuple[tuple[int, datetime | None, datetime | None], ...] = ()
    # Skills by name (sources that use them): the source's required and preferred ones, and each
    # operator's, by the operators' order; None when the source uses none (then read only if a contact
    # asks for some).
    required: frozenset[str] = frozenset()
    preferred: frozenset[str] = frozenset()
    skills: tuple[frozenset[str], ...] | None = None
    # What the token check reads while the route stands (sql's route_check): the source, whether someone
    # subscribes to its events (no version follows subscriptions), and the version.
    stamp: tuple = ()

    @property
    def checked_whole(self) -> bool:
        """Whether the token check reads this route whole, as the first read did, rather than its version:
        round robin's, whose operators' last-given times decide who is first and move with every contact
        such a source is given (a version that followed them would move with every contact too)."""
        return self.source.strategy == Strategy.ROUND_ROBIN

    def check(self, now: datetime) -> sql.Statement:
        """The token check of this route, sent along with a contact's first statements."""
        if self.checked_whole:
            return sql.authenticate(self.digest, now=now)
        return sql.route_check(self.digest, now=now)

    def confirmed_by(self, read: list[tuple]) -> bool:
        """Whether the check's rows (`check`) show this route still stands; a route read again whole is
        remembered as read (its fresher last-given times)."""
        if not self.checked_whole:
            return [tuple(row) for row in read] == [self.stamp]
        if tuple(read) == self.rows:
            return True
        fresh = memory.remember(self.digest, read)
        return fresh is not None and same_route(self.rows, fresh.rows)

    def candidates(
        self, now: datetime, *, skills: Iterable[str] = (), waited: timedelta = timedelta(0)
    ) -> tuple[Candidate, ...]:
        """The source's operators at `now`: whether each one's shift holds it, whether it holds every
        required skill (the source's and the contact's `skills`) and the preferred ones, unless the
        contact has `waited` past the source's relax time (crm.eligibility)."""
        found = list(self.operators)
        for i, starts, ends in self.shifts:
            # The cached candidates are on shift: only those whose shift does not hold now are copied.
            if not eligibility.on_shift(scheduled=True, starts=starts, ends=ends, now=now):
                found[i] = replace(found[i], on_shift=False)
        required, preferred = self.requirements(skills=skills, waited=waited)
        if not required and not preferred:
            return tuple(found)
        held = self.held()
        # Candidates hold every skill until shown otherwise: only those lacking some are copied.
        return tuple(
            c
            if required <= own and preferred <= own
            else replace(c, skilled=required <= own, preferred=preferred <= own)
            for c, own in zip(found, held, strict=True)
        )

    def requirements(
        self, *, skills: Iterable[str] = (), waited: timedelta = timedelta(0)
    ) -> tuple[frozenset[str], frozenset[str]]:
        """The skills required (the source's and the contact's) and preferred (until the relax time)."""
        relax = self.source.relax_preferred_after_seconds
        preferred = self.preferred if relax is None or waited < timedelta(seconds=relax) else frozenset()
        return self.required | frozenset(skills), preferred

    def held(self) -> tuple[frozenset[str], ...]:
        """Each operator's skills, by the operators' order (read now for a source that uses none)."""
        if self.skills is not None:
            return self.skills
        by_operator = operator_skills([c.operator_id for c in self.operators])
        return tuple(by_operator.get(c.operator_id, frozenset()) for c in self.operators)

    def skills_report(
        self, candidates: tuple[Candidate, ...], *, skills: Iterable[str], waited: timedelta
    ) -> dict:
        """For the explanation: the skills required and preferred, and, of the required ones, those no
        operator who is there (switched on, on shift, available) holds."""
        required, preferred = self.requirements(skills=skills, waited=waited)
        if not required and not preferred:
            return {}
        if any(c.skilled and eligibility.is_there(c) for c in candidates):
            held = required  # someone there holds them all: nothing is missing, no skills read again
        else:
            there = [own for c, own in zip(candidates, self.held(), strict=True) if eligibility.is_there(c)]
            held = frozenset().union(*there)
        return {
            "required": sorted(required),
            "preferred": sorted(preferred),
            "missing": sorted(required - held),
        }


# The route rows' column of when each operator was last given one of the source's contacts (round robin):
# it changes with every contact such a source is given, and decides nothing by itself (the router reads it
# again under the operator's lock), so a round-robin route read again that differs only there is the same
# route (same_route), kept with the fresher times.
LAST_GIVEN = 12


def same_route(rows: Iterable[tuple], other: Iterable[tuple]) -> bool:
    """Whether two reads of a route agree on everything that decides (all but LAST_GIVEN)."""

    def deciding(read: Iterable[tuple]) -> list[tuple]:
        return [row[:LAST_GIVEN] + row[LAST_GIVEN + 1 :] for row in read]

    return deciding(rows) == deciding(other)


class RouteChanged(Exception):
    """The token check, riding along with a contact's first statements, read something other than the route
    the contact was being decided on (another version, or no such token any more); nothing was written."""

    def __init__(self) -> None:
        super().__init__("the token's route changed")


@dataclass
class WorkerMemory:
    """Hints one worker keeps between requests. Neither decides anything: a hint that is wrong costs a
    round trip or a re-run, never a wrong assignment. Tests start each with a clean one (`clear`)."""

    # The route last read for each token digest (only valid tokens; at most MAX_ROUTES: the longest
    # known goes first, and its next request reads it again).
    routes: dict[str, Route] = field(default_factory=dict)
    # Sources whose last contact in this worker found every operator at the limit: a flood while everyone
    # is busy. The next contact counts all loads at once before it locks anyone (router).
    full_sources: set[int] = field(default_factory=set)
    # Skill names seen to exist (name → time.monotonic() of the read): a contact asking for them is not
    # checked again for SKILLS_FRESH_FOR seconds (webhook.known_skills). A skill deleted meanwhile is still
    # taken that long; such a contact waits, "nobody with the skills", naming it.
    skills: dict[str, float] = field(default_factory=dict)
    MAX_ROUTES = 1000
    SKILLS_FRESH_FOR = 10.0

    def clear(self) -> None:
        self.routes.clear()
        self.full_sources.clear()
        self.skills.clear()

    def remember(self, digest: str, rows: list[tuple]) -> Route | None:
        """The route these rows describe, remembered for the token (forgotten when they describe none)."""
        route = parse(rows, digest=digest)
        if route is None:
            self.routes.pop(digest, None)
            return None
        if len(self.routes) >= self.MAX_ROUTES and digest not in self.routes:
            del self.routes[next(iter(self.routes))]
        self.routes[digest] = route
        return route


memory = WorkerMemory()

# A source's RouteChange rows the worker lets accumulate before it compacts them (compact_changes).
KEEP_CHANGES = 8


def known_route(digest: str) -> Route | None:
    """The route last read for this token digest in this worker, unconfirmed (None if none)."""
    return memory.routes.get(digest)


def compact_changes(*, keep: int = KEEP_CHANGES) -> int:
    """Keep the route versions short (the token check reads them with every contact): a source with more
    than `keep` RouteChange rows has them replaced by one new row, in one transaction, and the rows of
    sources that no longer exist go. The new row is what keeps the check exact: a worker that remembered
    any of the deleted ids, or none of a change deleted before anyone read it, still meets an id it has not
    seen and reads the route again (once). Several workers at once only add a row each. Returns how many
    sources were compacted."""
    gone = RouteChange.objects.exclude(source_id__in=Source.objects.values("pk"))
    if gone.exists():  # (a pass with nothing to do writes nothing: SQLite has one writer at a time)
        gone.delete()
    crowded = (
        RouteChange.objects.values("source_id")
        .annotate(changes=Count("pk"), newest=Max("pk"))
        .filter(changes__gt=keep)
        .values_list("source_id", "newest")
    )
    compacted = 0
    for source_id, newest in crowded:
        with transaction.atomic():
            RouteChange.objects.filter(source_id=source_id, pk__lte=newest).delete()
            RouteChange.objects.create(source_id=source_id)
        compacted += 1
    return compacted


def source_route(source_id: int) -> Route | None:
    """The source with its operators, read now (None when the source does not exist)."""
    return parse(db.fetch_all(sql.source_operators(source_id)))


def route_for_token_digest(digest: str, *, now: datetime | None = None) -> Route | None:
    """The source whose token (current, or rotated and within its grace) has this digest: one indexed query.

    It opens the webhook's work, so it stands in for Django's per-request health check (db.fetch_first).
    """
    return memory.remember(digest, db.fetch_first(sql.authenticate(digest, now=now or timezone.now())))


def parse(rows: list[tuple], *, digest: str = "") -> Route | None:
    if not rows:
        return None
    source_id, name, keep_operator, accept_within, subscribed, strategy, relax, required, preferred = rows[0][
        :9
    ]
    version = rows[0][-1]
    source = Source(
        id=source_id,
        name=name,
        keep_operator=bool(keep_operator),
        accept_within_seconds=accept_within,
        strategy=strategy,
        relax_preferred_after_seconds=relax,
    )
    source.subscribed = bool(subscribed)  # events.outbox.wanted, read with the route
    uses_skills = required is not None
    operators, shifts, skills = [], [], []
    for row in rows:
        row_source, (op_id, weight, op_name, last_given, op_skills), state = row[0], row[9:14], row[14:20]
        # A source without operators still comes as one row; a second source can only match by a digest
        # collision, and is ignored.
        if op_id is None or row_source != source_id:
            continue
        limit, active, presence, scheduled, starts, ends = state
        if scheduled:
            shifts.append((len(operators), moment(starts), moment(ends)))
        candidate = Candidate(
            op_id,
            weight,
            limit,
            active=bool(active),
            name=op_name,
            presence=presence,
            last_given=moment(last_given),
        )
        operators.append(candidate)
        skills.append(names(op_skills))
    return Route(
        source,
        tuple(operators),
        tuple(rows),
        digest,
        tuple(shifts),
        required=names(required),
        preferred=names(preferred),
        skills=tuple(skills) if uses_skills else None,
        stamp=(source_id, subscribed, version),
    )


def names(listed: list[str] | str | None) -> frozenset[str]:
    """Skill names as the route reads them: a PostgreSQL array, SQLite's "en,ru", or null."""
    if not listed:
        return frozenset()
    return frozenset(listed.split(",") if isinstance(listed, str) else listed)


def operator_skills(operator_ids: list[int]) -> dict[int, frozenset[str]]:
    """{operator id: its skills' names}, read now (a contact asks for skills its source does not use)."""
    through = Operator.skills.through.objects.filter(operator_id__in=operator_ids)
    found: dict[int, set[str]] = {}
    for operator_id, name in through.values_list("operator_id", "skill__name"):
        found.setdefault(operator_id, set()).add(name)
    return {operator_id: frozenset(skills) for operator_id, skills in found.items()}


def reachable_now(state: tuple, *, now: datetime) -> dict:
    """What the lock re-read (sql's `reachable` columns) as a Candidate's fields at `now`."""
    limit, active, presence, scheduled, starts, ends = state
    shift = eligibility.on_shift(scheduled=bool(scheduled), starts=moment(starts), ends=moment(ends), now=now)
    return {"limit": limit, "active": bool(active), "presence": presence, "on_shift": shift}


def moment(value: datetime | float | str | None) -> datetime | None:
    """A timestamp read by raw SQL as an aware datetime: PostgreSQL's come as seconds since the epoch (see
    sql's `epoch`), SQLite's as text, naive, in UTC."""
    if isinstance(value, float | int):
        # Rounded to the microsecond, the column's precision: a float of today's seconds holds it exactly
        # enough (to some 0.2 µs), and fromtimestamp rounds half to even.
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
