"""How a contact finds an operator. Every assignment, by any path, goes through `_choose` here.

`assign_contact` (a new contact), `drain` (the waiting queue) and `assign_manually` (a supervisor) write
contacts' operators; nothing else does. The rule for choosing:
1. the candidates are the source's operators with their weights (read with the token check, or now);
2. a source that keeps operators first offers the contact to the lead's latest operator;
3. otherwise (or when that operator cannot take it) one is drawn at random by weight among those not
   excluded; the drawn operator's row is locked, and its weight for this source, active flag, limit and
   load are read again under the lock; an operator that cannot take it drops out and the draw repeats;
4. the contact is stored (or updated) with the chosen operator and `assigned_at`, or with none and a
   reason, plus the explanation of what the choice saw and which path it took.

Why it is race-free: every assignment to an operator happens while its row is locked (SELECT ... FOR
UPDATE on PostgreSQL), and whatever decides eligibility (weight row, limit, active flag, load) is read by
a statement that starts after the lock is granted, so under READ COMMITTED it sees every change committed
before: a supervisor's removal of an operator, or the previous lock holder's contact. A transaction holds
at most one operator lock at a time (a full operator's lock is released through a savepoint before the
next draw), so operator locks never form a cycle. SQLite cannot lock rows; there every write transaction
starts with BEGIN IMMEDIATE (see settings), which serialises writers and makes the same steps safe.

Cost: the statements live in distribution.sql; those whose answers are not needed in between share a
round trip on PostgreSQL. A contact takes two: BEGIN with the token check, the lead upsert, savepoint,
lock and load, then the INSERT with COMMIT (`_one_transaction`). The token check rides along because the
worker assumes the route it read last time for that token (`known_route`) and rolls back if the check
reads anything else; a token met for the first time costs a round trip of its own before them. The first
round trip stands in for Django's per-request health check (sql).
"""

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from crm.choices import AssignmentPath, Exclusion
from crm.models import Contact, Operator, Source, window_start
from distribution import sql
from distribution.selection import ALL_AT_LIMIT, Candidate, Choice, decide, draw, exclusion

log = logging.getLogger("leadflow.distribution")

# SystemRandom: no shared state to duplicate when gunicorn forks workers from a preloaded app.
_default_rng = random.SystemRandom()

# PostgreSQL's codes for a deadlock and a serialization failure: the transaction was rolled back whole
# and may simply run again.
RETRYABLE_SQLSTATES = {"40P01", "40001"}
RETRIES = 3
T = TypeVar("T")


@dataclass(frozen=True)
class Route:
    """A source with its operators, as the token check read them (`rows`) for the token `digest`."""

    source: Source
    candidates: tuple[Candidate, ...]
    rows: tuple[tuple, ...] = ()
    digest: str = ""


class RouteChanged(Exception):
    """The token check, riding along with a contact's first statements, read something other than the route
    the contact was being decided on; nothing was written. `route` is what it read (None: unknown token)."""

    def __init__(self, route: Route | None) -> None:
        super().__init__("the token's route changed")
        self.route = route


# The route this worker last read for each token digest. It only lets the next request with that token
# skip a round trip: its token check rides along with its first statements (assign_contact's `confirm`),
# and whatever the check reads differently (a token regenerated or removed, an operator added, a weight,
# limit, flag or name changed) rolls the transaction back to run again on what was read. Only valid
# tokens get in, at most KNOWN_ROUTES of them.
_known_routes: dict[str, Route] = {}
KNOWN_ROUTES = 1000


def known_route(digest: str) -> Route | None:
    """The route last read for this token digest in this worker, unconfirmed (None if none)."""
    return _known_routes.get(digest)


def source_route(source_id: int) -> Route | None:
    """The source with its operators, read now (None when the source does not exist)."""
    return _route(sql.fetch_all(sql.source_operators(source_id)))


def route_for_token_digest(digest: str, *, now: datetime | None = None) -> Route | None:
    """The source whose token (or previous token, in its grace period) has this digest: one indexed query.

    It opens the webhook's work, so it stands in for Django's per-request health check (sql.fetch_first).
    """
    return _remember(digest, sql.fetch_first(sql.authenticate(digest, now=now or timezone.now())))


def _remember(digest: str, rows: list[tuple]) -> Route | None:
    route = _route(rows, digest=digest)
    if route is None:
        _known_routes.pop(digest, None)
        return None
    if len(_known_routes) >= KNOWN_ROUTES and digest not in _known_routes:
        del _known_routes[next(iter(_known_routes))]  # the longest known: its next request reads it again
    _known_routes[digest] = route
    return route


def _route(rows: list[tuple], *, digest: str = "") -> Route | None:
    if not rows:
        return None
    source_id, name, keep_operator = rows[0][:3]
    source = Source(id=source_id, name=name, keep_operator=bool(keep_operator))
    candidates = tuple(
        Candidate(operator_id=op_id, weight=weight, limit=limit, active=bool(active), name=op_name)
        for row_source, _, _, op_id, weight, limit, active, op_name in rows
        # A source without operators still comes as one row; a second source can only match by a
        # digest collision, and is ignored.
        if op_id is not None and row_source == source_id
    )
    return Route(source, candidates, tuple(rows), digest)


@dataclass
class _Trip:
    """Statements whose answers are not needed yet wait here and ride along with the next round trip.

    The first carries the transaction's planning rules (sql.index_only)."""

    lead: sql.Statement | None = None  # the lead's upsert, until sent
    waiting: list[sql.Statement] = field(default_factory=sql.index_only)
    lead_id: int | None = None
    commits: bool = False  # the transaction is ours to end: COMMIT rides along with the last statements
    opens: bool = False  # the next round trip begins the transaction (so it may be sent again, see sql)
    confirm: Route | None = None  # a route assumed: its token check rides along with the first round trip
    now: datetime | None = None

    def send(self, statements: Sequence[sql.Statement], *, last: bool = False) -> list[list[tuple]]:
        """Run the waiting statements and these (and COMMIT, if `last` and ours); return these' rows.

        Raises RouteChanged (before anything else is read) when a token check sent along disagrees.
        """
        check = [sql.authenticate(self.confirm.digest, now=self.now)] if self.confirm else []
        head = [self.lead] if self.lead else []
        tail = [sql.commit()] if last and self.commits else []
        # Never with COMMIT: a contact must not be committed before the route it was decided on is confirmed.
        assert not (check and tail), "the token check must be sent before the last round trip"
        sent = [*self.waiting, *check, *head, *statements, *tail]
        results = sql.run_together(sent, opening=self.opens)
        at, self.opens = len(self.waiting), False
        if check:
            assumed, self.confirm = self.confirm, None
            if tuple(results[at]) != assumed.rows:
                raise RouteChanged(_remember(assumed.digest, results[at]))
            at += 1
        if head:
            self.lead_id, self.lead = results[at][0][0], None
        self.waiting, self.commits = [], self.commits and not tail
        start = len(sent) - len(statements) - len(tail)
        return results[start : start + len(statements)]


@contextmanager
def _one_transaction() -> Iterator[_Trip]:
    """The transaction of one new contact, with the _Trip that carries its statements.

    transaction.atomic() costs two round trips of its own on PostgreSQL: psycopg sends BEGIN before the
    first statement and COMMIT at the end, each alone. Outside any atomic block (a request, not a test
    or an outer transaction) BEGIN rides along with the first statements and COMMIT with the last; on
    any error the transaction is rolled back before the error goes on. Elsewhere (SQLite, an outer
    atomic block, server-side binding) it is transaction.atomic().
    """
    if not sql.batching() or connection.in_atomic_block or not connection.get_autocommit():
        with transaction.atomic():
            yield _Trip()
        return
    trip = _Trip(waiting=[sql.begin(), *sql.index_only()], commits=True, opens=True)
    try:
        yield trip
        if trip.commits:  # nothing carried the COMMIT
            trip.send([], last=True)
    except BaseException:
        sql.roll_back()
        raise


def _lock_and_count(
    trip: _Trip, pick: Candidate, *, source_id: int, since: datetime, others_open: bool
) -> Candidate:
    """Lock the operator and re-read what decides eligibility; the lock is kept only if it can take the
    contact (otherwise its release rides along with the next round trip)."""
    # The savepoint lets a full operator's lock go before the next draw; needed only when another draw may
    # follow, and only where rows can be locked at all.
    savepoint = others_open and connection.features.has_select_for_update
    rows = trip.send(
        [
            *([sql.savepoint("pick")] if savepoint else []),
            sql.lock_operator(pick.operator_id),
            sql.weight_and_load(source_id=source_id, operator_id=pick.operator_id, since=since),
        ]
    )
    locked, ((weight, load),) = rows[-2][:1], rows[-1]
    # An operator deleted, or removed from the source, since the candidates were read drops out.
    limit, active = locked[0] if locked else (0, False)
    counted = pick.with_load(load, limit=limit, active=bool(active), weight=weight or 0)
    if savepoint and exclusion(counted) is not None:
        trip.waiting.append(sql.rollback_to("pick"))
    return counted


# Sources whose last contact in this worker found every operator at the limit. Only a hint of where to
# start: whoever looks free in the unlocked count is still locked and counted again before it is chosen.
_full_sources: set[int] = set()


def _skip_full(
    trip: _Trip, candidates: list[Candidate], *, source_id: int, since: datetime
) -> list[Candidate]:
    """Count every open candidate's load in one statement (no locks) and mark the full ones as counted."""
    (rows,) = trip.send([sql.loads(source_id=source_id, since=since)])
    loads = dict(rows)
    return [
        c.with_load(loads[c.operator_id]) if c.load is None and loads.get(c.operator_id, 0) >= c.limit else c
        for c in candidates
    ]


def _choose(
    trip: _Trip,
    *,
    source_id: int,
    candidates: Sequence[Candidate],
    since: datetime,
    rng: random.Random,
    previous_operator: int | None = None,
    exclude: int | None = None,
) -> tuple[Choice, str]:
    """Steps 2 and 3: the operator for one contact (or nobody), with the path that found it.

    `previous_operator`: the lead's latest operator, offered the contact first (sources that keep
    operators). `exclude`: an operator that must not get it (a re-route moves a contact away).
    """
    candidates = [c for c in candidates if c.operator_id != exclude]
    chosen, draws, path, sticky_fallback = None, [], AssignmentPath.DRAW, None
    if previous_operator is not None:
        pick = next((c for c in candidates if c.operator_id == previous_operator), None)
        if pick is None or exclusion(pick) is not None:
            sticky_fallback = exclusion(pick) if pick else Exclusion.NO_WEIGHT
        else:
            counted = _lock_and_count(trip, pick, source_id=source_id, since=since, others_open=True)
            candidates = [counted if c.operator_id == pick.operator_id else c for c in candidates]
            if (sticky_fallback := exclusion(counted)) is None:
                chosen, path = counted, AssignmentPath.STICKY
    skipped_full = False
    if chosen is None and source_id in _full_sources:
        # Everyone was full at this source's last contact (a flood while everyone is busy): count all of
        # them at once before locking any, as after a full draw below.
        candidates, skipped_full = _skip_full(trip, candidates, source_id=source_id, since=since), True
    while chosen is None and (pick := draw(candidates, rng=rng)) is not None:
        draws.append(pick.operator_id)
        open_count = sum(1 for c in candidates if exclusion(c) is None)
        counted = _lock_and_count(trip, pick, source_id=source_id, since=since, others_open=open_count > 1)
        candidates = [counted if c.operator_id == pick.operator_id else c for c in candidates]
        if exclusion(counted) is None:
            chosen = counted
        elif not skipped_full and open_count > 2:
            # A full pick hints that others are full too (a flood while everyone is busy): one unlocked
            # count of all of them instead of one lock each.
            candidates, skipped_full = _skip_full(trip, candidates, source_id=source_id, since=since), True
    choice = decide(candidates, draws=draws, chosen=chosen)
    if previous_operator is not None:
        choice.explanation["sticky"] = {"operator_id": previous_operator, "fallback": sticky_fallback}
    if choice.reason == ALL_AT_LIMIT:
        _full_sources.add(source_id)
    else:
        _full_sources.discard(source_id)
    return choice, path


def _stamp(explanation: dict, *, path: str, at: datetime, by: str) -> dict:
    return {**explanation, "path": path, "at": at.isoformat(), "by": by}


def assign_contact(
    *,
    source: Source,
    external_id: str,
    name: str = "",
    message: str = "",
    idempotency_key: str = "",
    request_hash: str = "",
    candidates: Sequence[Candidate] | None = None,
    confirm: Route | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> Contact:
    """Store one contact of the lead `external_id` through `source`, assigned to an operator or to nobody.

    Nobody free (no operators, all inactive, all at their limit) is not an error: the contact is stored
    with operator None and `unassigned_reason` set, and waits in the queue (`drain`). Everything is
    written in one transaction: the lead, the contact and its explanation exist together or not at all.
    A non-empty `name` renames the lead. `candidates` are the source's operators if the caller has read
    them already (the token check does); what decides eligibility is read again under the lock either way.
    `confirm`: a route this worker read earlier for the caller's token (known_route), not yet checked in
    this request: its candidates are used, its token check rides along with the first round trip, and
    RouteChanged is raised (nothing written) if the check reads anything else.
    """
    now = now or timezone.now()
    if confirm is not None:
        candidates = confirm.candidates
    with _one_transaction() as trip:
        # Step 1: the lead's upsert (and the token check) wait for the first lock's round trip.
        trip.lead = sql.upsert_lead(external_id=external_id, name=name, now=now)
        trip.confirm, trip.now = confirm, now
        if candidates is None:
            route = source_route(source.pk)
            candidates, source = (route.candidates, route.source) if route else ((), source)
        previous = None
        if source.keep_operator:
            trip.send([])
            previous = _latest_operator(trip, trip.lead_id)
        choice, path = _choose(
            trip,
            source_id=source.pk,
            candidates=candidates,
            since=window_start(now),
            rng=rng or _default_rng,
            previous_operator=previous,
        )
        if trip.lead or trip.confirm:
            trip.send([])
        contact = Contact(
            lead_id=trip.lead_id,
            source_id=source.pk,
            operator_id=choice.operator_id,
            assigned_at=now if choice.operator_id else None,
            unassigned_reason=choice.reason,
            explanation=_stamp(choice.explanation, path=path, at=now, by="webhook"),
            message=message,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            created_at=now,
        )
        [[(contact.pk,)]] = trip.send([sql.insert_contact(contact)], last=True)
        contact.source = source
        return contact


def _latest_operator(trip: _Trip, lead_id: int) -> int | None:
    (rows,) = trip.send([sql.latest_operator(lead_id)])
    return rows[0][0] if rows else None


class SourceGone(Exception):
    """The source was deleted while its contact was being stored; nothing was written."""


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before, by this source, for a request with different fields."""


@dataclass(frozen=True)
class Receipt:
    contact: Contact
    replayed: bool


def receive_contact(
    *,
    source: Source,
    external_id: str,
    name: str = "",
    message: str = "",
    idempotency_key: str = "",
    candidates: Sequence[Candidate] | None = None,
    confirm: Route | None = None,
    rng: random.Random | None = None,
) -> Receipt:
    """assign_contact, made safe to retry: with an idempotency key, a repeat of an earlier request from the
    same source returns the contact that request stored (replayed=True) and writes nothing.

    Raises IdempotencyConflict when the key was used with different fields. Concurrent repeats are settled
    by the unique (source, idempotency_key) constraint: the loser's transaction rolls back whole and it
    answers with the winner's contact. A deadlock or serialization failure (PostgreSQL rolled the whole
    transaction back) is retried a few times before it is raised. `confirm`: a route assumed for the
    caller's token (see assign_contact); if its check reads differently the contact is decided again on
    what it read, and SourceGone is raised if the token is no longer anyone's.
    """
    if confirm is not None and idempotency_key:
        # A replay reads a stored contact before any statement of the contact's own: confirm first.
        confirm = _confirmed(route_for_token_digest(confirm.digest))
        source, candidates, confirm = confirm.source, confirm.candidates, None
    digest = _request_hash(external_id=external_id, name=name, message=message) if idempotency_key else ""
    if idempotency_key and (earlier := _earlier_contact(source, idempotency_key, digest)):
        return Receipt(earlier, replayed=True)

    def attempt(source: Source, candidates: Sequence[Candidate] | None, confirm: Route | None) -> Contact:
        return retrying(
            lambda: assign_contact(
                source=source,
                external_id=external_id,
                name=name,
                message=message,
                idempotency_key=idempotency_key,
                request_hash=digest,
                candidates=candidates,
                confirm=confirm,
                rng=rng,
            )
        )

    try:
        try:
            contact = attempt(source, candidates, confirm)
        except RouteChanged as changed:
            route = _confirmed(changed.route)
            contact = attempt(route.source, route.candidates, None)
    except IntegrityError:
        if idempotency_key and (earlier := _earlier_contact(source, idempotency_key, digest)):
            return Receipt(earlier, replayed=True)
        if not Source.objects.filter(pk=source.pk).exists():
            raise SourceGone from None
        raise
    return Receipt(contact, replayed=False)


def _confirmed(route: Route | None) -> Route:
    if route is None:
        raise SourceGone
    return route


def retrying(work: Callable[[], T]) -> T:
    """Run `work` (one whole transaction) again when PostgreSQL rolled it back for a deadlock or a
    serialization failure; a bounded number of times, with a short random pause."""
    for attempt in range(RETRIES + 1):
        try:
            return work()
        except OperationalError as exc:
            state = getattr(exc.__cause__, "sqlstate", None)
            if state not in RETRYABLE_SQLSTATES or attempt == RETRIES:
                raise
            log.warning("retrying after %s (attempt %d)", state, attempt + 1)
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    raise AssertionError("unreachable")


def _request_hash(**fields: str) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _earlier_contact(source: Source, idempotency_key: str, digest: str) -> Contact | None:
    contact = Contact.objects.filter(source=source, idempotency_key=idempotency_key).first()
    if contact is not None and contact.request_hash != digest:
        raise IdempotencyConflict
    return contact


# --- The waiting queue -----------------------------------------------------------------------------


@dataclass
class DrainReport:
    assigned: int = 0
    still_waiting: int = 0  # looked at in this pass, nobody could take them
    too_old: int = 0  # waiting longer than UNASSIGNED_MAX_AGE_HOURS: left for a person
    stopped_early: bool = False  # the pass hit its bound; the periodic drain goes on from there


def drain(
    *,
    trigger: str = AssignmentPath.DRAIN,
    sources: Sequence[int] | None = None,
    max_contacts: int | None = None,
    max_seconds: float | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> DrainReport:
    """Give waiting contacts an operator, oldest first, by the same rules as the webhook.

    One pass over the queue (optionally only some sources), each contact in a transaction of its own:
    the contact's row is locked (SKIP LOCKED, so concurrent drains take different contacts) and checked
    to be still unassigned, then `_choose` decides as for a new contact. A source found with nobody free
    is skipped for the rest of the pass. Contacts older than UNASSIGNED_MAX_AGE_HOURS are left alone and
    counted. `max_contacts`/`max_seconds` bound the work (a supervisor's save drains inline).
    """
    now = now or timezone.now()
    rng = rng or _default_rng
    started = time.monotonic()
    oldest_allowed = now - timedelta(hours=settings.UNASSIGNED_MAX_AGE_HOURS)
    waiting = Contact.objects.unassigned()
    if sources is not None:
        waiting = waiting.filter(source_id__in=sources)
    report = DrainReport(too_old=waiting.filter(created_at__lte=oldest_allowed).count())
    full_sources: set[int] = set()
    for contact_id, source_id in _oldest_first(waiting.filter(created_at__gt=oldest_allowed)):
        if (max_contacts is not None and report.assigned + report.still_waiting >= max_contacts) or (
            max_seconds is not None and time.monotonic() - started > max_seconds
        ):
            report.stopped_early = True
            break
        if source_id in full_sources:
            report.still_waiting += 1
            continue
        outcome = retrying(partial(_drain_one, contact_id, trigger=trigger, now=timezone.now(), rng=rng))
        if outcome is True:
            report.assigned += 1
        elif outcome is False:
            report.still_waiting += 1
            full_sources.add(source_id)
    return report


def _oldest_first(queue, batch: int = 200):
    """(id, source_id) of the waiting contacts, oldest first, read in batches by keyset (no server-side
    cursor, which a pooler in transaction mode would break, and no long-held snapshot)."""
    after = None
    while True:
        page = queue.order_by("created_at", "id")
        if after is not None:
            page = page.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], id__gt=after[1]))
        rows = list(page.values_list("created_at", "id", "source_id")[:batch])
        yield from ((contact_id, source_id) for _, contact_id, source_id in rows)
        if len(rows) < batch:
            return
        after = rows[-1][:2]


def _drain_one(contact_id: int, *, trigger: str, now: datetime, rng: random.Random) -> bool | None:
    """Try one waiting contact: True assigned, False nobody free, None taken meanwhile by someone else."""
    with transaction.atomic():
        contact = (
            Contact.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("source")
            .filter(pk=contact_id, operator__isnull=True)
            .first()
        )
        if contact is None:
            return None
        choice = _choose_for(contact, now=now, rng=rng)[0]
        if choice.operator_id is None:
            return False
        _store_choice(contact, choice, path=trigger, now=now, by=trigger)
        return True


def _choose_for(
    contact: Contact, *, now: datetime, rng: random.Random, exclude: int | None = None
) -> tuple[Choice, str]:
    route = source_route(contact.source_id)
    trip = _Trip()
    previous = _latest_operator(trip, contact.lead_id) if contact.source.keep_operator else None
    return _choose(
        trip,
        source_id=contact.source_id,
        candidates=route.candidates if route else (),
        since=window_start(now),
        rng=rng,
        previous_operator=previous,
        exclude=exclude,
    )


def _store_choice(contact: Contact, choice: Choice, *, path: str, now: datetime, by: str) -> None:
    contact.operator_id = choice.operator_id
    contact.assigned_at = now
    contact.unassigned_reason = ""
    contact.explanation = _stamp(choice.explanation, path=path, at=now, by=by)
    contact.save(update_fields=["operator", "assigned_at", "unassigned_reason", "explanation"])


# --- Supervisors ---------------------------------------------------------------------------------


class AssignmentRefused(Exception):
    """A manual assignment the rules forbid (inactive or full operator) without an explicit override,
    or a re-route with nobody free."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def assign_manually(
    *,
    contact: Contact,
    operator: Operator | None,
    by: str,
    override: bool = False,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> Contact:
    """A supervisor gives the contact to `operator`, or routes it again through the draw (operator None).

    A chosen operator must be active and under the limit unless `override` (recorded as such). Routing
    again never lands on the contact's current operator: it moves the contact, and its load, elsewhere.
    Raises AssignmentRefused (nothing changed) when the rules forbid it or nobody is free.
    """
    now = now or timezone.now()

    def work() -> Contact:
        with transaction.atomic():
            locked = (
                Contact.objects.select_for_update(of=("self",)).select_related("source").get(pk=contact.pk)
            )
            if operator is None:
                choice, _ = _choose_for(locked, now=now, rng=rng or _default_rng, exclude=locked.operator_id)
                if choice.operator_id is None:
                    raise AssignmentRefused(choice.reason, gettext("Nobody else can take this contact now."))
                _store_choice(locked, choice, path=AssignmentPath.ROUTE_AGAIN, now=now, by=by)
                return locked
            pick = Candidate(operator_id=operator.pk, weight=1, limit=operator.load_limit, name=operator.name)
            counted = _lock_and_count(
                _Trip(), pick, source_id=locked.source_id, since=window_start(now), others_open=False
            )
            why = exclusion(counted.with_load(counted.load, weight=1))  # a manual pick needs no weight
            if why is not None and not override:
                raise AssignmentRefused(
                    why,
                    gettext("%(operator)s is %(state)s; confirm to override.")
                    % {"operator": operator.name, "state": Exclusion(why).label},
                )
            choice = decide([counted], draws=[], chosen=counted)
            if counted.weight <= 0:  # no weight row: the operator does not work the contact's source
                choice.explanation["outside_source"] = True
            path = AssignmentPath.MANUAL_OVERRIDE if why else AssignmentPath.MANUAL
            _store_choice(locked, choice, path=path, now=now, by=by)
            return locked

    return retrying(work)
