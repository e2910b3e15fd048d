"""A contact's life after the draw, for sources that make offers (`accept_within_seconds`), and for all:
accepted, declined or expired offers, closing and reopening.

The draw offers the contact to one operator until a deadline (`Contact.offer_expires_at`, an Offer row
pending); the offer counts in the operator's load while pending and once accepted (the contact is the
operator's, by `assigned_at`, as an assignment is). Declined, expired or withdrawn, the offer ends and the
contact is offered at once to the next operator the same draw picks among those who have not passed on it
in this round; nobody left, it waits (`nobody_accepted`) until one accept period has passed, then the queue
starts a new round open to everyone (router.store_choice, queue.routable).

Every change here runs in one transaction under the contact's row lock, so an accept and the worker's
expiry of the same offer happen one after the other, never both: the second finds the offer over. Locks
are taken contact first, then operator (as the router does), so they never form a cycle.
"""

import logging
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from config.locks import only_one
from crm.choices import AssignmentPath, AwayReason, ContactState, OfferOutcome, Presence
from crm.history import WORKER
from crm.models import Contact, Offer, Operator, SourceOperatorWeight
from distribution import capacity
from distribution.batching import retrying
from distribution.router import choose_for, default_rng, end_offer, passed_in_round, store_choice
from distribution.routes import source_route
from events import outbox
from events.choices import EventType

log = logging.getLogger("leadflow.offers")


class OfferExpired(Exception):
    """The offer is no longer this operator's to accept or decline: its deadline passed, it was withdrawn,
    or the contact moved on. Nothing changed."""

    def __init__(self, contact: Contact | None = None) -> None:
        super().__init__(gettext("This offer has expired."))
        self.contact = contact


class NotAllowed(Exception):
    """A change the contact's state does not allow (closing a contact not yet accepted, reopening one that
    is not closed); the message says why. Nothing changed."""


def _locked(contact_id: int) -> Contact:
    """The contact under its row lock, with its source (Contact.DoesNotExist when there is none)."""
    return Contact.objects.select_for_update(of=("self",)).select_related("source").get(pk=contact_id)


def accept(*, contact_id: int, operator_id: int, now: datetime | None = None, by: str = "") -> Contact:
    """The operator takes the contact offered to them. Accepting again what they already accepted is
    harmless (the contact as it is). Raises OfferExpired when the offer is not (or no longer) theirs."""
    now = now or timezone.now()

    def work() -> Contact:
        with transaction.atomic():
            contact = _locked(contact_id)
            if contact.operator_id == operator_id and contact.state == ContactState.ACCEPTED:
                return contact
            if not _theirs(contact, operator_id, now):
                raise OfferExpired(contact)
            end_offer(contact, OfferOutcome.ACCEPTED, now=now, by=by)
            contact.state, contact.accepted_at, contact.offer_expires_at = ContactState.ACCEPTED, now, None
            contact.save(update_fields=["state", "accepted_at", "offer_expires_at"])
            _answered(contact)
            outbox.record(EventType.CONTACT_ACCEPTED, contact, now=now)
            return contact

    return retrying(work)


def decline(
    *,
    contact_id: int,
    operator_id: int,
    now: datetime | None = None,
    by: str = "",
    rng: random.Random | None = None,
) -> Contact:
    """The operator passes on the contact offered to them: it is offered at once to the next operator (or
    waits). Raises OfferExpired when the offer is not (or no longer) theirs."""
    now = now or timezone.now()

    def work() -> Contact:
        with transaction.atomic():
            contact = _locked(contact_id)
            if not _theirs(contact, operator_id, now):
                raise OfferExpired(contact)
            end_offer(contact, OfferOutcome.DECLINED, now=now, by=by)
            _answered(contact)
            outbox.record(EventType.CONTACT_OFFER_DECLINED, contact, now=now)
            return _next(contact, now=now, rng=rng, by=by)

    return retrying(work)


def withdraw(
    *, contact_id: int, by: str, now: datetime | None = None, rng: random.Random | None = None
) -> Contact:
    """A supervisor takes a pending offer back and routes the contact again (not to the same operator in
    this round). Raises NotAllowed when no offer is pending."""
    now = now or timezone.now()

    def work() -> Contact:
        with transaction.atomic():
            contact = _locked(contact_id)
            if contact.state != ContactState.OFFERED:
                raise NotAllowed(gettext("No offer of this contact is pending."))
            end_offer(contact, OfferOutcome.WITHDRAWN, now=now, by=by)
            return _next(contact, now=now, rng=rng, by=by)

    return retrying(work)


def close(*, contact_id: int, operator_id: int, outcome: str = "", now: datetime | None = None) -> Contact:
    """The operator has handled the contact (accepted, or assigned to them directly): closed, with an
    optional short note. Closing it again changes nothing. Raises OfferExpired when it is not theirs,
    NotAllowed while it is only offered."""
    now = now or timezone.now()
    outcome = outcome.strip()
    Contact._meta.get_field("outcome").clean(outcome, None)  # ValidationError naming the note's limits

    with transaction.atomic():
        contact = _locked(contact_id)
        if contact.operator_id != operator_id:
            raise OfferExpired(contact)
        if contact.state == ContactState.CLOSED:
            return contact
        if contact.state == ContactState.OFFERED:
            raise NotAllowed(gettext("Accept the contact before closing it."))
        contact.state, contact.closed_at, contact.outcome = ContactState.CLOSED, now, outcome
        contact.save(update_fields=["state", "closed_at", "outcome"])
        outbox.record(EventType.CONTACT_CLOSED, contact, now=now)
        return contact


def reopen(*, contact_id: int, now: datetime | None = None) -> Contact:
    """A supervisor reopens a closed contact: back with its operator, accepted (or assigned, if it was
    given without an offer). Raises NotAllowed when it is not closed."""
    with transaction.atomic():
        contact = _locked(contact_id)
        if contact.state != ContactState.CLOSED:
            raise NotAllowed(gettext("Only a closed contact can be reopened."))
        contact.state = ContactState.ACCEPTED if contact.accepted_at else ContactState.ASSIGNED
        contact.closed_at = None
        contact.save(update_fields=["state", "closed_at"])
        outbox.record(EventType.CONTACT_REOPENED, contact, now=now)
        return contact


@dataclass
class Expired:
    """What one pass over the due offers did."""

    expired: int = 0
    reoffered: int = 0  # offered at once to the next operator
    waiting: int = 0  # nobody left: in the queue
    set_away: int = 0  # operators set away for missing offers in a row


EXPIRY_BATCH = 200  # contacts per transaction: a burst of expiries commits 200 at a time


def expire_due(*, now: datetime, limit: int = 5000, rng: random.Random | None = None) -> Expired:
    """End the offers whose deadline has come (the worker, every pass), oldest deadline first, and offer
    each contact at once to the next operator of its round (or keep it waiting); at most `limit`.

    In transactions of EXPIRY_BATCH contacts, each taken under its row lock skipping those another
    transaction holds (an accept at the deadline, another worker) and checked to be still due, so nothing
    is ended twice. The next offers lock operators one after another and hold them to the commit; two
    workers doing so at once could wait on each other, so one worker at a time does this job (an
    advisory lock: the others go on with their other jobs)."""
    done = Expired()
    while done.expired < limit:
        size = min(EXPIRY_BATCH, limit - done.expired)
        ended = retrying(lambda size=size: _expire_batch(now=now, size=size, rng=rng, done=done))
        if not ended:
            break
    return done


def _expire_batch(*, now: datetime, size: int, rng: random.Random | None, done: Expired) -> int:
    with transaction.atomic():
        if not only_one("offer_expiry"):
            return 0  # another worker is ending offers now
        contacts = list(
            Contact.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("source", "lead", "operator")
            .filter(offer_expires_at__lte=now)
            .order_by("offer_expires_at", "pk")[:size]
        )
        if not contacts:
            return 0
        ids = [contact.pk for contact in contacts]
        Offer.objects.filter(contact_id__in=ids, outcome=OfferOutcome.PENDING).update(
            outcome=OfferOutcome.EXPIRED, ended_at=now, ended_by=WORKER
        )
        done.set_away += _missed(contacts, now=now)
        passed = passed_in_round(contacts)
        routes = {source_id: source_route(source_id) for source_id in {c.source_id for c in contacts}}
        subscribed = {source_id: outbox.wanted(source_id) for source_id in routes}
        for contact in contacts:
            outbox.record(
                EventType.CONTACT_OFFER_EXPIRED, contact, now=now, subscribed=subscribed[contact.source_id]
            )
            choice, _ = choose_for(
                contact,
                now=now,
                rng=rng or default_rng,
                passed=passed[contact.pk],
                route=routes[contact.source_id],
            )
            store_choice(
                contact,
                choice,
                path=AssignmentPath.REOFFER,
                now=now,
                by=WORKER,
                subscribed=subscribed[contact.source_id],
            )
            done.reoffered += contact.operator_id is not None
            done.waiting += contact.operator_id is None
        done.expired += len(contacts)
        return len(contacts)


def _theirs(contact: Contact, operator_id: int, now: datetime) -> bool:
    """Whether the contact's pending offer is this operator's and still runs."""
    return (
        contact.state == ContactState.OFFERED
        and contact.operator_id == operator_id
        and contact.offer_expires_at is not None
        and now < contact.offer_expires_at
    )


def _answered(contact: Contact) -> None:
    """An accept or a decline ends the operator's run of missed offers of the source."""
    SourceOperatorWeight.objects.filter(
        source_id=contact.source_id, operator_id=contact.operator_id, missed_offers__gt=0
    ).update(missed_offers=0)


def _missed(contacts: list[Contact], *, now: datetime) -> int:
    """Count each expired offer in its operator's run for the source; an operator who reaches the source's
    missed_offers_before_away is set away (missed offers) by the worker. How many were set away.

    The counters' rows are locked in id order (an accept or a decline resets them meanwhile, or waits)."""
    missed = Counter((contact.source_id, contact.operator_id) for contact in contacts)
    limits = {contact.source_id: contact.source.missed_offers_before_away for contact in contacts}
    pairs = Q()
    for source_id, operator_id in missed:
        pairs |= Q(source_id=source_id, operator_id=operator_id)
    rows = list(SourceOperatorWeight.objects.select_for_update().filter(pairs).order_by("pk"))
    tired = set()
    for row in rows:
        row.missed_offers += missed[(row.source_id, row.operator_id)]
        limit = limits[row.source_id]
        if limit and row.missed_offers >= limit:
            row.missed_offers = 0
            tired.add(row.operator_id)
    SourceOperatorWeight.objects.bulk_update(rows, ["missed_offers"])
    set_away = 0
    for operator in Operator.objects.select_for_update().filter(pk__in=tired, presence=Presence.AVAILABLE):
        operator._change_reason = WORKER
        capacity.update_operator(
            operator=operator, presence=Presence.AWAY, presence_reason=AwayReason.MISSED_OFFERS, now=now
        )
        log.info("operator=%s set away after missed offers", operator.pk)
        set_away += 1
    return set_away


def _next(contact: Contact, *, now: datetime, rng: random.Random | None, by: str) -> Contact:
    """Offer the contact to the next operator of the round (or keep it waiting): the caller has ended the
    pending offer and holds the contact's lock. `by`: what ended the offer (the explanation's who)."""
    choice, _ = choose_for(
        contact, now=now, rng=rng or default_rng, passed=passed_in_round([contact])[contact.pk]
    )
    store_choice(contact, choice, path=AssignmentPath.REOFFER, now=now, by=by)
    return contact
