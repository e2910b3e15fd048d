"""How one contact finds an operator; every assignment, by any path (intake, queue, by hand), goes through
`choose` here.

1. the candidates are the source's operators with their weights (read with the token check, or now);
2. a source that keeps operators first offers the contact to the lead's latest operator;
3. otherwise (or when that operator cannot take it) one is drawn at random by weight among those not
   excluded (crm.eligibility); the drawn operator's row is locked, and its weight for this source, active
   flag, limit and load are read again under the lock; one that cannot take it drops out and the draw
   repeats.

Why it is race-free: every assignment to an operator happens while its row is locked (SELECT ... FOR
UPDATE on PostgreSQL), and whatever decides eligibility (weight row, limit, active flag, load) is read by
a statement that starts after the lock is granted, so under READ COMMITTED it sees every change committed
before: a supervisor's removal of an operator, or the previous lock holder's contact. A transaction holds
at most one operator lock at a time (a full operator's lock is released through a savepoint before the
next draw), so operator locks never form a cycle. SQLite cannot lock rows; there every write transaction
starts with BEGIN IMMEDIATE (see settings), which serialises writers and makes the same steps safe.
"""

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from django.db import connection

from crm.choices import AssignmentPath, ContactState, Exclusion, OfferOutcome, Strategy, UnassignedReason
from crm.eligibility import Candidate, exclusion, is_full, window_start
from crm.models import Contact, Offer, SourceOperatorWeight
from distribution import sql
from distribution.batching import Trip
from distribution.routes import Route, memory, moment, reachable_now, source_route
from distribution.selection import Choice, decide, draw, still_first
from events import outbox
from events.choices import EventType

# SystemRandom: no shared state to duplicate when gunicorn forks workers from a preloaded app. Tests pass
# their own seeded random.Random.
default_rng = random.SystemRandom()
# Offers that leave their operator out of the rest of the contact's round.
PASSED_OUTCOMES = (OfferOutcome.DECLINED, OfferOutcome.EXPIRED, OfferOutcome.WITHDRAWN)


def lock_and_count(
    trip: Trip, pick: Candidate, *, source_id: int, now: datetime, others_open: bool
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
            sql.weight_and_load(source_id=source_id, operator_id=pick.operator_id, since=window_start(now)),
        ]
    )
    locked, ((weight, last_given, load),) = rows[-2][:1], rows[-1]
    if locked:
        counted = pick.with_load(
            load, weight=weight or 0, last_given=moment(last_given), **reachable_now(locked[0], now=now)
        )
    else:  # deleted since the candidates were read: it drops out (so does one removed from the source)
        counted = pick.with_load(load, limit=0, active=False, weight=0)
    if savepoint and exclusion(counted) is not None:
        trip.waiting.append(sql.rollback_to("pick"))
    return counted


def _count_all(trip: Trip, candidates: list[Candidate], *, source_id: int, now: datetime) -> list[Candidate]:
    """Least loaded: every candidate's load, counted in one statement without locks (up to its limit); the
    one chosen is locked and counted again before it is taken."""
    (rows,) = trip.send([sql.loads(source_id=source_id, since=window_start(now))])
    loads = dict(rows)
    return [c.with_load(loads.get(c.operator_id, 0)) if c.load is None else c for c in candidates]


def _skip_full(trip: Trip, candidates: list[Candidate], *, source_id: int, now: datetime) -> list[Candidate]:
    """Count every open candidate's load in one statement (no locks) and mark the full ones as counted.

    Loads only fall as time passes, so this can only make an operator look fuller than it is for a
    moment: whoever looks free is still locked and counted again before it is chosen."""
    (rows,) = trip.send([sql.loads(source_id=source_id, since=window_start(now))])
    loads = dict(rows)
    return [
        c.with_load(loads[c.operator_id])
        if c.load is None and is_full(loads.get(c.operator_id, 0), c.limit)
        else c
        for c in candidates
    ]


def choose(
    trip: Trip,
    *,
    source_id: int,
    candidates: Sequence[Candidate],
    now: datetime,
    rng: random.Random,
    previous_operator: int | None = None,
    exclude: int | None = None,
    passed: frozenset[int] = frozenset(),
    strategy: str = Strategy.WEIGHTED,
) -> tuple[Choice, str]:
    """The operator for one contact (or nobody), with the path that found it, by the source's `strategy`
    (distribution.selection).

    `previous_operator`: the lead's latest operator, offered the contact first (sources that keep
    operators). `exclude`: an operator that must not get it (a re-route moves a contact away). `passed`:
    operators who declined the contact or let its offer expire in this round (left out, and named).
    """
    candidates = [
        replace(c, passed=True) if c.operator_id in passed else c
        for c in candidates
        if c.operator_id != exclude
    ]
    chosen, draws, path, sticky_fallback = None, [], AssignmentPath.DRAW, None
    if previous_operator is not None:
        pick = next((c for c in candidates if c.operator_id == previous_operator), None)
        if pick is None or exclusion(pick) is not None:
            sticky_fallback = exclusion(pick) if pick else Exclusion.NO_WEIGHT
        else:
            counted = lock_and_count(trip, pick, source_id=source_id, now=now, others_open=True)
            candidates = [counted if c.operator_id == pick.operator_id else c for c in candidates]
            if (sticky_fallback := exclusion(counted)) is None:
                chosen, path = counted, AssignmentPath.STICKY
    skipped_full = False
    if chosen is None and strategy == Strategy.LEAST_LOADED:
        candidates, skipped_full = _count_all(trip, candidates, source_id=source_id, now=now), True
    elif chosen is None and source_id in memory.full_sources:
        # Everyone was full at this source's last contact (a flood while everyone is busy): count all of
        # them at once before locking any, as after a full draw below.
        candidates, skipped_full = _skip_full(trip, candidates, source_id=source_id, now=now), True
    # Round robin and least loaded: a pick that the lock's re-read shows no longer first (another contact
    # went to it meanwhile) is let go and the choice made again; bounded, as keys only grow.
    second_looks = 2 * len(candidates)
    while chosen is None and (pick := draw(candidates, rng=rng, strategy=strategy)) is not None:
        draws.append(pick.operator_id)
        open_count = sum(1 for c in candidates if exclusion(c) is None)
        counted = lock_and_count(trip, pick, source_id=source_id, now=now, others_open=open_count > 1)
        candidates = [counted if c.operator_id == pick.operator_id else c for c in candidates]
        if exclusion(counted) is None and (second_looks <= 0 or still_first(counted, candidates, strategy)):
            chosen = counted
        elif exclusion(counted) is None:
            second_looks -= 1
            trip.waiting.append(sql.rollback_to("pick"))  # others are open: its lock is in the savepoint
        elif not skipped_full and open_count > 2:
            # A full pick hints that others are full too (a flood while everyone is busy): one unlocked
            # count of all of them instead of one lock each.
            candidates, skipped_full = _skip_full(trip, candidates, source_id=source_id, now=now), True
    choice = decide(candidates, draws=draws, chosen=chosen, strategy=strategy)
    if previous_operator is not None:
        choice.explanation["sticky"] = {"operator_id": previous_operator, "fallback": sticky_fallback}
    if choice.reason == UnassignedReason.ALL_AT_LIMIT:
        memory.full_sources.add(source_id)
    else:
        memory.full_sources.discard(source_id)
    return choice, path


def latest_operator(trip: Trip, lead_id: int) -> int | None:
    """The operator of the lead's latest assigned contact (a returning lead's first offer)."""
    (rows,) = trip.send([sql.latest_operator(lead_id)])
    return rows[0][0] if rows else None


def choose_for(
    contact: Contact,
    *,
    now: datetime,
    rng: random.Random,
    exclude: int | None = None,
    passed: frozenset[int] | None = None,
    route: Route | None = None,
) -> tuple[Choice, str]:
    """`choose` for a stored contact (the queue, a re-route, the next offer), with its source's operators
    (`route`, when the caller has read it: whatever decides is read again under the lock anyway) and,
    where the source makes offers, without those who passed on it in this round (`passed`, when the
    caller has read them already)."""
    route = route or source_route(contact.source_id)
    if passed is None:
        passed = frozenset()
        if route is not None and route.source.accept_within_seconds:
            passed = passed_in_round([contact])[contact.pk]
    trip = Trip()
    previous = latest_operator(trip, contact.lead_id) if contact.source.keep_operator else None
    waited = now - contact.created_at
    candidates = route.candidates(now, skills=contact.skills, waited=waited) if route else ()
    choice, path = choose(
        trip,
        source_id=contact.source_id,
        candidates=candidates,
        now=now,
        rng=rng,
        previous_operator=previous,
        exclude=exclude,
        passed=passed,
        strategy=route.source.strategy if route else Strategy.WEIGHTED,
    )
    if route is not None:
        with_skills(choice, route.skills_report(candidates, skills=contact.skills, waited=waited))
    return choice, path


def with_skills(choice: Choice, report: dict) -> None:
    """The skills the choice applied, in its explanation (nothing for sources and contacts without any)."""
    if report:
        choice.explanation["skills"] = report


def passed_in_round(contacts: Sequence[Contact]) -> dict[int, frozenset[int]]:
    """For each contact, the operators who declined it, let its offer expire or had it withdrawn in its
    current round (one query for them all)."""
    passed: dict[int, set[int]] = {contact.pk: set() for contact in contacts}
    rounds = {contact.pk: contact.offer_round for contact in contacts}
    offers = Offer.objects.filter(contact_id__in=list(rounds), outcome__in=PASSED_OUTCOMES)
    for contact_id, round_, operator_id in offers.values_list("contact_id", "round", "operator_id"):
        if round_ == rounds[contact_id]:
            passed[contact_id].add(operator_id)
    return {contact_id: frozenset(ids) for contact_id, ids in passed.items()}


def stamp(explanation: dict, *, path: str, at: datetime, by: str) -> dict:
    """The explanation with how (`path`), when and by whom (`by`) the decision was taken."""
    return {**explanation, "path": path, "at": at.isoformat(), "by": by}


def preferred_until(arrived: datetime, source) -> datetime | None:
    """When a contact waiting for the preferred skills may go to anyone with the required ones."""
    relax = source.relax_preferred_after_seconds
    return None if relax is None else arrived + timedelta(seconds=relax)


def end_offer(contact: Contact, outcome: str, *, now: datetime, by: str = "") -> int:
    """End the contact's pending offer, if any, with this outcome; how many ended (0 or 1)."""
    return Offer.objects.filter(contact=contact, outcome=OfferOutcome.PENDING).update(
        outcome=outcome, ended_at=now, ended_by=by
    )


STORED = [
    "operator",
    "assigned_at",
    "unassigned_reason",
    "explanation",
    "state",
    "offer_expires_at",
    "accepted_at",
    "offer_round",
    "route_after",
]


def store_choice(
    contact: Contact,
    choice: Choice,
    *,
    path: str,
    now: datetime,
    by: str,
    accepted: bool = False,
    subscribed: bool | None = None,
) -> None:
    """Give a stored contact the chosen operator, or keep it waiting with the reason (the caller holds the
    contact's row lock). Where the source makes offers the operator is offered it until the deadline
    (an Offer row), unless `accepted` (a supervisor's pick: an offer accepted by that decision).

    Nobody left because everyone passed on it in this round: it waits, and the next round (anyone again)
    starts no sooner than one accept period from now. The change's event (contact.assigned, .offered or
    .waiting) is written with it (events.outbox; `subscribed` as there)."""
    source = contact.source
    contact.explanation = stamp(choice.explanation, path=path, at=now, by=by)
    contact.offer_expires_at = contact.route_after = None
    contact.accepted_at = None
    if choice.operator_id is None:
        contact.operator_id = contact.assigned_at = None
        contact.state, contact.unassigned_reason = ContactState.WAITING, choice.reason
        if choice.reason == UnassignedReason.NOBODY_ACCEPTED:
            contact.route_after = now + timedelta(seconds=source.accept_within_seconds or 0)
            contact.offer_round += 1
        elif choice.reason == UnassignedReason.WAITING_FOR_PREFERRED:
            contact.route_after = preferred_until(contact.created_at, source)
        contact.save(update_fields=STORED)
        outbox.record(EventType.CONTACT_WAITING, contact, now=now, subscribed=subscribed)
        return
    contact.operator_id, contact.assigned_at, contact.unassigned_reason = choice.operator_id, now, ""
    offers = bool(source.accept_within_seconds)
    if not offers:
        contact.state = ContactState.ASSIGNED
    elif accepted:
        contact.state, contact.accepted_at = ContactState.ACCEPTED, now
    else:
        contact.state = ContactState.OFFERED
        contact.offer_expires_at = now + timedelta(seconds=source.accept_within_seconds)
    contact.save(update_fields=STORED)
    if source.strategy == Strategy.ROUND_ROBIN:
        SourceOperatorWeight.objects.filter(source_id=source.pk, operator_id=choice.operator_id).update(
            last_given_at=now
        )
    if offers:
        Offer.objects.create(
            contact=contact,
            source_id=contact.source_id,
            operator_id=choice.operator_id,
            round=contact.offer_round,
            offered_at=now,
            **({"outcome": OfferOutcome.ACCEPTED, "ended_at": now, "ended_by": by} if accepted else {}),
        )
    offered = contact.state == ContactState.OFFERED
    event = EventType.CONTACT_OFFERED if offered else EventType.CONTACT_ASSIGNED
    outbox.record(event, contact, now=now, subscribed=subscribed)
