"""A new contact from a channel: stored with its lead and assigned (or kept waiting with a reason) in one
transaction, safe to retry with an idempotency key.

Cost: the statements live in distribution.sql, and those whose answers are not needed in between share a
round trip on PostgreSQL (distribution.batching): two per contact. The token check rides along because
the worker assumes the route it read last time for that token (routes.known_route) and rolls back if the
check reads another version of it; a token met for the first time costs a round trip of its own before them.
"""

import hashlib
import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError
from django.utils import timezone

from crm.choices import ContactState, Strategy, UnassignedReason
from crm.models import Contact, Source
from distribution import sql
from distribution.batching import one_transaction, retrying
from distribution.router import choose, default_rng, latest_operator, preferred_until, stamp, with_skills
from distribution.routes import Route, RouteChanged, route_for_token_digest, source_route
from events import outbox
from events.choices import EventType


class SourceGone(Exception):
    """The source was deleted while its contact was being stored; nothing was written."""


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before, by this source, for a request with different fields."""


@dataclass(frozen=True)
class Receipt:
    contact: Contact
    replayed: bool


def store_contact(
    *,
    source: Source,
    external_id: str,
    name: str = "",
    message: str = "",
    idempotency_key: str = "",
    request_hash: str = "",
    route: Route | None = None,
    confirm: Route | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
    skills: Sequence[str] = (),
) -> Contact:
    """Store one contact of the lead `external_id` through `source`, assigned to an operator or to nobody.
    `skills`: the names of the skills the channel asked for (existing ones: the webhook checks them),
    required with the source's own.

    Nobody free (no operators, all inactive, all at their limit) is not an error: the contact is stored
    with operator None and `unassigned_reason` set, and waits in the queue (distribution.queue). Everything
    is written in one transaction: the lead, the contact and its explanation exist together or not at all.
    A non-empty `name` renames the lead. `route`: the source with its operators if the caller has read it
    already (the token check does); what decides eligibility is read again under the lock either way.
    `confirm`: a route this worker read earlier for the caller's token (routes.known_route), not yet
    checked in this request: its candidates are used, its token check rides along with the first round
    trip, and RouteChanged is raised (nothing written) if the check reads anything else.
    """
    now = now or timezone.now()
    route = confirm or route
    with one_transaction() as trip:
        # The lead's upsert (and the token check) wait for the first lock's round trip.
        trip.lead = sql.upsert_lead(external_id=external_id, name=name, now=now)
        trip.confirm, trip.now = confirm, now
        if route is None:
            route = source_route(source.pk)
        candidates, source = (route.candidates(now, skills=skills), route.source) if route else ((), source)
        previous = None
        if source.keep_operator:
            trip.send([])
            previous = latest_operator(trip, trip.lead_id)
        choice, path = choose(
            trip,
            source_id=source.pk,
            candidates=candidates,
            now=now,
            rng=rng or default_rng,
            previous_operator=previous,
            strategy=source.strategy,
        )
        if route is not None:
            with_skills(choice, route.skills_report(candidates, skills=skills, waited=timedelta(0)))
        trip.flush()
        # A source that makes offers offers the contact until its deadline, with an Offer row written in
        # the same round trip as the contact (sql.insert_offer); the others assign at once, as ever.
        offer_for = source.accept_within_seconds if choice.operator_id else None
        contact = Contact(
            lead_id=trip.lead_id,
            source_id=source.pk,
            operator_id=choice.operator_id,
            assigned_at=now if choice.operator_id else None,
            state=(ContactState.OFFERED if offer_for else ContactState.ASSIGNED)
            if choice.operator_id
            else ContactState.WAITING,
            offer_expires_at=now + timedelta(seconds=offer_for) if offer_for else None,
            route_after=preferred_until(now, source)
            if choice.reason == UnassignedReason.WAITING_FOR_PREFERRED
            else None,
            skills=sorted(skills),
            unassigned_reason=choice.reason,
            explanation=stamp(choice.explanation, path=path, at=now, by="webhook"),
            message=message,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            created_at=now,
        )
        statements = [sql.insert_contact(contact)]
        if offer_for:
            statements.append(sql.insert_offer(source_id=source.pk, operator_id=choice.operator_id, now=now))
        if choice.operator_id and source.strategy == Strategy.ROUND_ROBIN:
            statements.append(sql.touch_given(source_id=source.pk, operator_id=choice.operator_id, now=now))
        if getattr(source, "subscribed", False):  # read with the route: someone may want its event
            statements.append(_event(contact, candidates, external_id=external_id, now=now))
        [(contact.pk,)] = trip.send(statements, last=True)[0]
        contact.source = source
        return contact


def _event(contact: Contact, candidates, *, external_id: str, now: datetime) -> sql.Statement:
    """The new contact's outbox event (events.outbox), written in its last round trip."""
    if contact.state == ContactState.OFFERED:
        event_type = EventType.CONTACT_OFFERED
    elif contact.operator_id:
        event_type = EventType.CONTACT_ASSIGNED
    else:
        event_type = EventType.CONTACT_WAITING
    name = next((c.name for c in candidates if c.operator_id == contact.operator_id), None)
    return sql.insert_event(
        public_id=str(uuid.uuid4()),
        event_type=event_type,
        source_id=contact.source_id,
        data=outbox.contact_data(contact, external_id=external_id, operator_name=name),
        now=now,
    )


def receive_contact(
    *,
    source: Source,
    external_id: str,
    name: str = "",
    message: str = "",
    skills: Sequence[str] = (),
    idempotency_key: str = "",
    route: Route | None = None,
    confirm: Route | None = None,
    rng: random.Random | None = None,
) -> Receipt:
    """store_contact, made safe to retry: with an idempotency key, a repeat of an earlier request from the
    same source returns the contact that request stored (replayed=True) and writes nothing.

    Raises IdempotencyConflict when the key was used with different fields. Concurrent repeats are settled
    by the unique (source, idempotency_key) constraint: the loser's transaction rolls back whole and it
    answers with the winner's contact. A deadlock or serialization failure (PostgreSQL rolled the whole
    transaction back) is retried a few times before it is raised. `confirm`: a route assumed for the
    caller's token (see store_contact); if its check reads differently the contact is decided again on
    the route read anew, and SourceGone is raised if the token is no longer anyone's.
    """
    if confirm is not None and idempotency_key:
        # A replay reads a stored contact before any statement of the contact's own: confirm first.
        route = _confirmed(route_for_token_digest(confirm.digest))
        source, confirm = route.source, None
    # Skills enter the digest only when asked for, so keys stored before skills existed still match.
    asked = {"skills": sorted(skills)} if skills else {}
    digest = (
        request_hash(external_id=external_id, name=name, message=message, **asked) if idempotency_key else ""
    )
    if idempotency_key and (earlier := _earlier_contact(source, idempotency_key, digest)):
        return Receipt(earlier, replayed=True)

    def attempt(source: Source, route: Route | None, confirm: Route | None) -> Contact:
        return retrying(
            lambda: store_contact(
                source=source,
                external_id=external_id,
                name=name,
                message=message,
                idempotency_key=idempotency_key,
                request_hash=digest,
                route=route,
                confirm=confirm,
                rng=rng,
                skills=skills,
            )
        )

    try:
        try:
            contact = attempt(source, route, confirm)
        except RouteChanged:
            route = _confirmed(route_for_token_digest(confirm.digest))
            contact = attempt(route.source, route, None)
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


def request_hash(**fields: str | list[str]) -> str:
    """What an idempotency key stands for: every field of the request that the contact stores."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _earlier_contact(source: Source, idempotency_key: str, digest: str) -> Contact | None:
    contact = Contact.objects.filter(source=source, idempotency_key=idempotency_key).first()
    if contact is not None and contact.request_hash != digest:
        raise IdempotencyConflict
    return contact
