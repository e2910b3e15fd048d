"""The waiting queue: contacts stored without an operator get one, oldest first, by the intake's rules."""

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.choices import AssignmentPath, UnassignedReason
from crm.models import Contact
from distribution.batching import retrying
from distribution.router import choose_for, default_rng, store_choice


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
    to be still unassigned, then the router decides as for a new contact. A source found with nobody free
    is skipped for the rest of the pass. Contacts older than UNASSIGNED_MAX_AGE_HOURS are left alone and
    counted. `max_contacts`/`max_seconds` bound the work (a supervisor's save drains inline).
    """
    # Each contact is decided at its own moment (a long pass must not count loads at its start), unless a
    # moment is given (the worker's injected clock in tests): then at that one.
    clock = (lambda: now) if now is not None else timezone.now
    now = clock()
    rng = rng or default_rng
    started = time.monotonic()
    oldest_allowed = now - timedelta(hours=settings.UNASSIGNED_MAX_AGE_HOURS)
    waiting = Contact.objects.unassigned()
    if sources is not None:
        waiting = waiting.filter(source_id__in=sources)
    report = DrainReport(too_old=waiting.filter(created_at__lte=oldest_allowed).count())
    full_sources: set[int] = set()
    for contact_id, source_id in _oldest_first(waiting.filter(routable(now), created_at__gt=oldest_allowed)):
        if (max_contacts is not None and report.assigned + report.still_waiting >= max_contacts) or (
            max_seconds is not None and time.monotonic() - started > max_seconds
        ):
            report.stopped_early = True
            break
        if source_id in full_sources:
            report.still_waiting += 1
            continue
        outcome = retrying(partial(_drain_one, contact_id, trigger=trigger, now=clock(), rng=rng))
        if outcome is Tried.ASSIGNED:
            report.assigned += 1
        elif outcome is Tried.SOURCE_FULL:
            report.still_waiting += 1
            full_sources.add(source_id)
        elif outcome is Tried.PASSED:
            report.still_waiting += 1
    return report


def drain_sources(
    sources: Sequence[int], *, trigger: str = AssignmentPath.CAPACITY_CHANGE, now: datetime | None = None
) -> DrainReport:
    """Capacity appeared in these sources: route their waiting contacts now, within a bound so the change
    stays fast (DRAIN_INLINE_LIMIT contacts, about a second); the worker's drain does the rest."""
    return drain(
        trigger=trigger,
        sources=sources,
        max_contacts=settings.DRAIN_INLINE_LIMIT,
        max_seconds=1.0,
        now=now,
    )


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


class Tried(Enum):
    ASSIGNED = "assigned"  # given (or offered) to an operator
    SOURCE_FULL = "source_full"  # nobody at its source can take a contact now
    PASSED = "passed"  # everyone who could take it passed on it: it waits for its next round
    GONE = "gone"  # taken meanwhile by someone else (another drain, a supervisor)


def _drain_one(contact_id: int, *, trigger: str, now: datetime, rng: random.Random) -> Tried:
    """Try one waiting contact. Everyone having passed on it is a matter of this contact alone: the
    source's other contacts are still tried."""
    with transaction.atomic():
        contact = (
            Contact.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("source")
            .filter(routable(now), pk=contact_id)
            .first()
        )
        if contact is None:
            return Tried.GONE
        choice = choose_for(contact, now=now, rng=rng)[0]
        if choice.reason == UnassignedReason.NOBODY_ACCEPTED:
            store_choice(contact, choice, path=trigger, now=now, by=trigger)
            return Tried.PASSED
        if choice.operator_id is None:
            return Tried.SOURCE_FULL
        store_choice(contact, choice, path=trigger, now=now, by=trigger)
        return Tried.ASSIGNED


def routable(now: datetime) -> Q:
    """Waiting contacts the queue may route now: not in the pause after a round everyone passed on. One
    waiting for the preferred skills is routable before its `route_after` too (when anyone with the required
    skills may take it): an operator with the preferred ones may have become free meanwhile."""
    return Q(operator__isnull=True) & (
        Q(route_after__isnull=True)
        | Q(route_after__lte=now)
        | Q(unassigned_reason=UnassignedReason.WAITING_FOR_PREFERRED)
    )
