"""How a contact finds an operator. `assign_contact` is the only code that creates contacts.

The rule, top to bottom:
1. find the lead by external_id, or create it (one upsert; concurrent posts of one id make one lead);
2. the candidates are the source's operators with their weights (one query);
3. draw one at random by weight among those not excluded; lock the drawn operator's row and count its
   contacts in the load window; if it is inactive or full it drops out and the draw repeats among the rest;
4. store the contact with the chosen operator, or with none and a reason, plus the explanation.

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
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from crm.models import Contact, Lead, Operator, Source, SourceOperatorWeight, window_start
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
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> Contact:
    """Store one contact of the lead `external_id` through `source`, assigned to an operator or to nobody.

    Nobody free (no operators, all inactive, all at their limit) is not an error: the contact is stored
    with operator None and `unassigned_reason` set. Everything is written in one transaction: the lead, the
    contact and its explanation exist together or not at all. A non-empty `name` renames the lead.
    """
    now = now or timezone.now()
    rng = rng or _default_rng
    with transaction.atomic():
        lead_id = _upsert_lead(external_id=external_id, name=name, now=now)
        candidates = _candidates(source)
        draws: list[int] = []
        chosen = None
        while chosen is None and (pick := draw(candidates, rng=rng)) is not None:
            draws.append(pick.operator_id)
            counted = _lock_and_count(pick, since=window_start(now), others_open=_open_count(candidates) > 1)
            candidates = [counted if c.operator_id == pick.operator_id else c for c in candidates]
            if exclusion(counted) is None:
                chosen = counted
        choice = decide(candidates, draws=draws, chosen=chosen)
        return Contact.objects.create(
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
    rng: random.Random | None = None,
) -> Receipt:
    """assign_contact, made safe to retry: with an idempotency key, a repeat of an earlier request from the
    same source returns the contact that request stored (replayed=True) and writes nothing.

    Raises IdempotencyConflict when the key was used with different fields. Concurrent repeats are settled
    by the unique (source, idempotency_key) constraint: the loser's transaction rolls back whole and it
    answers with the winner's contact.
    """
    digest = _request_hash(external_id=external_id, name=name, message=message)
    if idempotency_key and (earlier := _earlier_contact(source, idempotency_key, digest)):
        return Receipt(earlier, replayed=True)
    try:
        contact = assign_contact(
            source=source,
            external_id=external_id,
            name=name,
            message=message,
            idempotency_key=idempotency_key,
            request_hash=digest if idempotency_key else "",
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


def _upsert_lead(*, external_id: str, name: str, now: datetime) -> int:
    """INSERT ... ON CONFLICT (external_id) DO UPDATE: one statement, and the losing insert of a race
    waits for the winner and then updates its row, so there is never a second lead nor an error."""
    lead = Lead(external_id=external_id, name=name, created_at=now, updated_at=now)
    Lead.objects.bulk_create(
        [lead],
        update_conflicts=True,
        unique_fields=["external_id"],
        update_fields=["updated_at", "name"] if name else ["updated_at"],
    )
    return lead.pk


def _candidates(source: Source) -> list[Candidate]:
    rows = (
        SourceOperatorWeight.objects.filter(source=source)
        .order_by("operator_id")
        .values_list("operator_id", "weight", "operator__load_limit", "operator__is_active", "operator__name")
    )
    return [
        Candidate(operator_id=op, weight=weight, limit=limit, active=active, name=name)
        for op, weight, limit, active, name in rows
    ]


def _open_count(candidates: list[Candidate]) -> int:
    return sum(1 for c in candidates if exclusion(c) is None)


def _lock_and_count(pick: Candidate, *, since: datetime, others_open: bool) -> Candidate:
    """Lock the drawn operator and count its window; the lock is kept only if it can take the contact.

    The limit and active flag are re-read under the lock: a supervisor may have changed them since the
    candidate list was read. Counting stops at the limit, so the cost is bounded by it, not by history.
    """
    # A savepoint costs a round trip; it is needed only to release the lock of a full operator when
    # another draw may follow, and only where rows can be locked at all.
    savepoint = transaction.savepoint() if others_open and connection.features.has_select_for_update else None
    locked = Operator.objects.select_for_update().filter(pk=pick.operator_id).values_list("load_limit", "is_active")
    # An operator deleted since the candidate list was read simply drops out, like an inactive one.
    limit, active = locked.first() or (0, False)
    load = Contact.objects.filter(operator_id=pick.operator_id, created_at__gt=since).order_by()[:limit].count()
    counted = pick.with_load(load, limit=limit, active=active)
    if savepoint is not None and exclusion(counted) is not None:
        transaction.savepoint_rollback(savepoint)
    return counted
