"""How a contact finds an operator. `assign_contact` is the only code that creates contacts.

The rule, top to bottom:
1. find the lead by external_id, or create it (one upsert; concurrent posts of one id make one lead);
2. the candidates are the source's operators with their weights (read with the webhook's token check);
3. draw one at random by weight among those not excluded; lock the drawn operator's row and count its
   contacts in the load window; if it is inactive or full it drops out and the draw repeats among the rest;
4. store the contact with the chosen operator, or with none and a reason, plus the explanation.

Cost: the hot path is raw SQL (compiling ORM queries cost more than running them), and statements whose answers are not needed in between
share a round trip on PostgreSQL: upsert, savepoint, lock and count go together. An intake is the token
check, BEGIN, that batch, the contact's INSERT and COMMIT. The load is read from hourly totals kept by
database triggers plus an exact count of the window's first hour, so it costs the same whatever the load
or the history (docs/performance.md has the figures).

Why it is race-free: every assignment to an operator happens while its row is locked (SELECT ... FOR
UPDATE on PostgreSQL), and the count is a separate statement run after the lock is granted, so under READ
COMMITTED it sees every contact committed by the previous holder. Only the drawn operator is locked, and a
full operator's lock is released again (rollback to a savepoint) before the next draw, so a transaction
holds at most one operator lock at a time: no lock-order cycles, hence no deadlocks, and sources sharing
no operators never wait for each other. SQLite cannot lock rows; there every write transaction starts
with BEGIN IMMEDIATE (see settings), which serialises writers and makes the same read-decide-write safe.
"""

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from crm.models import Contact, Source, window_start
from distribution.selection import Candidate, decide, draw, exclusion

# SystemRandom: no shared state to duplicate when gunicorn forks workers from a preloaded app.
_default_rng = random.SystemRandom()


def assign_contact(
    *,
    source: Source,
    external_id: str,
    name: str = "",
    message: str = "",
    idempotency_key: str = "",
    request_hash: str = "",
    candidates: Sequence[Candidate] | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> Contact:
    """Store one contact of the lead `external_id` through `source`, assigned to an operator or to nobody.

    Nobody free (no operators, all inactive, all at their limit) is not an error: the contact is stored
    with operator None and `unassigned_reason` set. Everything is written in one transaction: the lead, the
    contact and its explanation exist together or not at all. A non-empty `name` renames the lead.
    `candidates` are the source's operators if the caller has read them already (see `routes`); the drawn
    operator's limit and active flag are read again under its lock either way.
    """
    now = now or timezone.now()
    rng = rng or _default_rng
    lead = _lead_upsert(external_id=external_id, name=name, now=now)
    with transaction.atomic():
        candidates = list(_candidates(source) if candidates is None else candidates)
        since = window_start(now)
        lead_id = None
        draws: list[int] = []
        chosen = None
        while chosen is None and (pick := draw(candidates, rng=rng)) is not None:
            draws.append(pick.operator_id)
            # The lead's upsert rides along with the first lock: one round trip less, same order of locks.
            counted, lead_row = _lock_and_count(
                pick,
                since=since,
                others_open=_open_count(candidates) > 1,
                before=[] if lead_id else [lead],
            )
            lead_id = lead_id or lead_row[0]
            candidates = [counted if c.operator_id == pick.operator_id else c for c in candidates]
            if exclusion(counted) is None:
                chosen = counted
        if lead_id is None:  # nobody to draw: the upsert goes on its own
            (lead_id,) = _run_together([lead])[0]
        choice = decide(candidates, draws=draws, chosen=chosen)
        contact = Contact(
            lead_id=lead_id,
            source=source,
            operator_id=choice.operator_id,
            unassigned_reason=choice.reason,
            explanation=choice.explanation,
            message=message,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            created_at=now,
        )
        ((contact.pk,),) = _run_together([_contact_insert(contact)])
        return contact


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
    rng: random.Random | None = None,
) -> Receipt:
    """assign_contact, made safe to retry: with an idempotency key, a repeat of an earlier request from the
    same source returns the contact that request stored (replayed=True) and writes nothing.

    Raises IdempotencyConflict when the key was used with different fields. Concurrent repeats are settled
    by the unique (source, idempotency_key) constraint: the loser's transaction rolls back whole and it
    answers with the winner's contact.
    """
    digest = _request_hash(external_id=external_id, name=name, message=message) if idempotency_key else ""
    if idempotency_key and (earlier := _earlier_contact(source, idempotency_key, digest)):
        return Receipt(earlier, replayed=True)
    try:
        contact = assign_contact(
            source=source,
            external_id=external_id,
            name=name,
            message=message,
            idempotency_key=idempotency_key,
            request_hash=digest,
            candidates=candidates,
            rng=rng,
        )
    except IntegrityError:
        if idempotency_key and (earlier := _earlier_contact(source, idempotency_key, digest)):
            return Receipt(earlier, replayed=True)
        raise
    return Receipt(contact, replayed=False)


def _request_hash(**fields: str) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _earlier_contact(source: Source, idempotency_key: str, digest: str) -> Contact | None:
    contact = Contact.objects.filter(source=source, idempotency_key=idempotency_key).first()
    if contact is not None and contact.request_hash != digest:
        raise IdempotencyConflict
    return contact


# Raw SQL on the hot path: each statement is one round trip with no ORM compilation, and it runs
# unchanged on PostgreSQL and SQLite (3.35+: ON CONFLICT ... RETURNING).
_UPSERT_LEAD = (
    "INSERT INTO crm_lead (external_id, name, created_at, updated_at) "
    "VALUES (%(external_id)s, %(name)s, %(now)s, %(now)s) "
    "ON CONFLICT (external_id) DO UPDATE SET updated_at = excluded.updated_at, "
    "name = CASE WHEN excluded.name = '' THEN crm_lead.name ELSE excluded.name END "
    "RETURNING id"
)
_INSERT_CONTACT = (
    "INSERT INTO crm_contact (lead_id, source_id, operator_id, unassigned_reason, explanation, message, "
    "idempotency_key, request_hash, created_at) VALUES (%(lead_id)s, %(source_id)s, %(operator_id)s, "
    "%(unassigned_reason)s, %(explanation)s, %(message)s, %(idempotency_key)s, %(request_hash)s, %(created_at)s) "
    "RETURNING id"
)
_LOCK_OPERATOR = "SELECT load_limit, is_active FROM crm_operator WHERE id = %(operator)s"
# The load: whole hours from crm_operatorhour (kept by triggers) plus an exact count of the window's first,
# partial hour. A handful of rows either way, never a scan of the history or of the whole window.
_COUNT_WINDOW = (
    "SELECT (SELECT coalesce(sum(contacts), 0) FROM crm_operatorhour "
    "WHERE operator_id = %(operator)s AND hour_start >= %(next_hour)s) "
    "+ (SELECT count(*) FROM crm_contact "
    "WHERE operator_id = %(operator)s AND created_at > %(since)s AND created_at < %(next_hour)s)"
)


Statement = tuple[str, dict]


def _lead_upsert(*, external_id: str, name: str, now: datetime) -> Statement:
    """INSERT ... ON CONFLICT (external_id) DO UPDATE, returning the lead's id: the losing insert of a race
    waits for the winner and then updates its row, so there is never a second lead nor an error."""
    now = connection.ops.adapt_datetimefield_value(now)
    return _UPSERT_LEAD, {"external_id": external_id, "name": name, "now": now}


def _contact_insert(contact: Contact) -> Statement:
    """The INSERT of a new contact, each value prepared by its model field as the ORM would."""
    fields = ("lead_id", "source_id", "operator_id", "unassigned_reason", "explanation", "message")
    fields += ("idempotency_key", "request_hash", "created_at")
    meta = Contact._meta
    return _INSERT_CONTACT, {
        name: meta.get_field(name.removesuffix("_id")).get_db_prep_save(getattr(contact, name), connection)
        for name in fields
    }


def _run_together(statements: Sequence[Statement]) -> list[tuple | None]:
    """Run the statements in order; return each one's first row (None when it returns no rows).

    On PostgreSQL they travel in one round trip: Django's psycopg cursors bind parameters on the client, so
    one execute may carry several statements, and each still runs in order with a snapshot of its own.
    """
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            rows = []
            for sql, params in statements:
                cursor.execute(sql, params)
                rows.append(cursor.fetchone() if cursor.description else None)
            return rows
        merged = {name: value for _, params in statements for name, value in params.items()}
        cursor.execute("; ".join(sql for sql, _ in statements), merged)
        rows = []
        for _ in statements:
            rows.append(cursor.fetchone() if cursor.description else None)
            cursor.nextset()
        return rows


@dataclass(frozen=True)
class Route:
    """A source with its operators, as the webhook reads them together with the token check."""

    source: Source
    candidates: tuple[Candidate, ...]


_ROUTES = (
    "SELECT s.id, s.name, s.token, w.operator_id, w.weight, o.load_limit, o.is_active, o.name "
    "FROM crm_source s LEFT JOIN crm_sourceoperatorweight w ON w.source_id = s.id "
    "LEFT JOIN crm_operator o ON o.id = w.operator_id ORDER BY s.id, w.operator_id"
)


def routes() -> list[Route]:
    """Every source with its candidates, in one query (sources are few: they are the channels)."""
    sources: dict[int, Source] = {}
    candidates: dict[int, list[Candidate]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_ROUTES)
        for source_id, name, token, *candidate in cursor.fetchall():
            if source_id not in sources:
                sources[source_id] = Source(id=source_id, name=name, token=token)
                candidates[source_id] = []
            if candidate[0] is not None:  # a source without operators still comes as one row
                candidates[source_id].append(_candidate(*candidate))
    return [Route(source, tuple(candidates[source_id])) for source_id, source in sources.items()]


def _candidate(operator_id: int, weight: int, limit: int, active: bool, name: str) -> Candidate:
    return Candidate(operator_id=operator_id, weight=weight, limit=limit, active=active, name=name)


def _candidates(source: Source) -> tuple[Candidate, ...]:
    """The source's operators, read the same way the webhook reads them."""
    return next((route.candidates for route in routes() if route.source.pk == source.pk), ())


def _open_count(candidates: list[Candidate]) -> int:
    return sum(1 for c in candidates if exclusion(c) is None)


def _lock_and_count(
    pick: Candidate, *, since: datetime, others_open: bool, before: Sequence[Statement] = ()
) -> tuple[Candidate, tuple | None]:
    """Lock the drawn operator and count its window; the lock is kept only if it can take the contact.

    The limit and active flag are re-read under the lock: a supervisor may have changed them since the
    candidates were read. The statements `before` run first, in the same round trip; the first one's row
    comes back too.
    """
    next_hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    adapt = connection.ops.adapt_datetimefield_value
    params = {"operator": pick.operator_id, "since": adapt(since), "next_hour": adapt(next_hour)}
    # The savepoint lets a full operator's lock go before the next draw; it is needed only when another
    # draw may follow, and only where rows can be locked at all. (SQLite has no row locks: this write
    # transaction began with BEGIN IMMEDIATE, so no other writer runs meanwhile.)
    savepoint = others_open and connection.features.has_select_for_update
    lock = _LOCK_OPERATOR + (" FOR UPDATE" if connection.features.has_select_for_update else "")
    # The count is a statement of its own, run once the lock is granted: its snapshot then holds every
    # contact the previous holder of the lock committed.
    rows = _run_together(
        [*before, *([("SAVEPOINT pick", {})] if savepoint else []), (lock, params), (_COUNT_WINDOW, params)]
    )
    locked, (load,) = rows[-2], rows[-1]
    # An operator deleted since the candidates were read simply drops out, like an inactive one.
    limit, active = locked or (0, False)
    counted = pick.with_load(load, limit=limit, active=active)
    if savepoint and exclusion(counted) is not None:
        _run_together([("ROLLBACK TO SAVEPOINT pick", {})])
    return counted, rows[0] if before else None
