"""Everything that must happen at a time, done by one worker (`manage.py run_worker`) every few seconds.

Each deadline is a column on the row it belongs to, so a restart loses nothing: an operator's return from
away (`presence_until`), the start and the end of its shift (`shift_due_at`), a pending offer's end
(`Contact.offer_expires_at`, distribution.offers), and the queue itself (the waiting contacts); it also
keeps the routes' versions short (distribution.routes.compact_changes). A pass takes the due rows one at
a time under a row lock that skips rows another worker holds (SELECT ... FOR UPDATE SKIP LOCKED on
PostgreSQL; SQLite serialises writers anyway) and checks each is still due, so several workers on several
hosts never do a job twice. `now` is injected in tests.
"""

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from crm import shifts
from crm.choices import Presence
from crm.history import WORKER
from crm.models import Operator, WorkerBeat
from distribution import capacity, offers, queue, routes

log = logging.getLogger("leadflow.worker")

BATCH = 200  # due rows taken per job and pass; the rest wait for the next pass, seconds later
OFFERS_PER_PASS = 5000  # offers ended per pass: a burst of expiries is done within seconds, not queued
DRAIN_SECONDS = 10.0  # a pass's drain stops after this long, so the timed jobs stay on time


@dataclass
class Pass:
    returned: int = 0  # operators back from away at their time
    shifts: int = 0  # shifts that started or ended
    expired: int = 0  # offers that expired (each contact offered to the next operator, or waiting)
    assigned: int = 0  # waiting contacts routed (by the drain and by the capacity those added)
    still_waiting: int = 0


def run_once(*, now: datetime | None = None, name: str | None = None) -> Pass:
    """One pass of every timed job; a heartbeat for the dashboard at its end."""
    now = now or timezone.now()
    done = Pass()
    routed = capacity.Routed()
    for operator_id in _due("presence_until", now):
        routed.add(_return(operator_id, now=now, done=done))
    for operator_id in _due("shift_due_at", now):
        _shift(operator_id, now=now, done=done)
    expired = offers.expire_due(now=now, limit=OFFERS_PER_PASS)
    done.expired = expired.expired
    drained = queue.drain(now=now, max_seconds=DRAIN_SECONDS)
    done.assigned = routed.assigned + drained.assigned
    done.still_waiting = drained.still_waiting
    routes.compact_changes()
    WorkerBeat.objects.update_or_create(worker=name or _name(), defaults={"last_pass_at": timezone.now()})
    return done


def _due(deadline: str, now: datetime) -> list[int]:
    """The operators whose `deadline` has come, soonest first (read without locks: _locked checks again)."""
    due = Operator.objects.filter(**{f"{deadline}__lte": now}).order_by(deadline, "pk")
    return list(due.values_list("pk", flat=True)[:BATCH])


def _locked(operator_id: int, **still_due) -> Operator | None:
    """The operator under its lock if it is still due (not taken meanwhile by another worker)."""
    return Operator.objects.select_for_update(skip_locked=True).filter(pk=operator_id, **still_due).first()


def _return(operator_id: int, *, now: datetime, done: Pass) -> capacity.Routed:
    """An operator's "back at" has come: available again (in its history as the worker's doing)."""
    with transaction.atomic():
        operator = _locked(operator_id, presence_until__lte=now)
        if operator is None or operator.presence == Presence.AVAILABLE:
            return capacity.Routed()
        operator._change_reason = WORKER
        routed = capacity.update_operator(operator=operator, presence=Presence.AVAILABLE, now=now)
        done.returned += 1
        return routed


def _shift(operator_id: int, *, now: datetime, done: Pass) -> None:
    """A shift's start or end has come: the next deadline is worked out (at a start, the shift's end). The
    waiting contacts a start lets through are routed by the pass's drain, right after."""
    with transaction.atomic():
        operator = _locked(operator_id, shift_due_at__lte=now)
        if operator is not None:
            shifts.store(operator, now=now)
            done.shifts += 1


def _name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
