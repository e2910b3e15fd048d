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
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from crm.choices import AssignmentPath, AwayReason, ContactState, OfferOutcome, Presence
from crm.history import WORKER
from crm.models import Contact, Operator, SourceOperatorWeight
from distribution import capacity
from distribution.batching import retrying
from distribution.router import choose_for, default_rng, end_offer, store_choice

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
        return contact


def reopen(*, contact_id: int) -> Contact:
    """A supervisor reopens a closed contact: back with its operator, accepted (or assigned, if it was
    given without an offer). Raises NotAllowed when it is not closed."""
    with transaction.atomic():
        contact = _locked(contact_id)
        if contact.state != ContactState.CLOSED:
            raise NotAllowed(gettext("Only a closed contact can be reopened."))
        contact.state = ContactState.ACCEPTED if contact.accepted_at else ContactState.ASSIGNED
        contact.closed_at = None
        contact.save(update_fields=["state", "closed_at"])
        return contact


@dataclass
class Expired:
    """What one pass over the due offers did."""

    expired: int = 0
    reoffered: int = 0  # offered at once to the next operator
    waiting: int = 0  # nobody left: in the queue
    set_away: int = 0  # operators set away for missing offers in a row


def expire_due(*, now: datetime, limit: int = 500, rng: random.Random | None = None) -> Expired:
    """End the offers whose deadline has come (the worker, every pass), oldest deadline first, each in a
    transaction of its own under the contact's lock, skipping contacts another worker holds; each contact
    is offered to the next operator at once or waits."""
    done = Expired()
    due = Contact.objects.filter(offer_expires_at__lte=now).order_by("offer_expires_at", "pk")
    for contact_id in due.values_list("pk", flat=True)[:limit]:
        retrying(lambda contact_id=contact_id: _expire_one(contact_id, now=now, rng=rng, done=done))
    return done


def _expire_one(contact_id: int, *, now: datetime, rng: random.Random | None, done: Expired) -> None:
    with transaction.atomic():
        contact = (
            Contact.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("source")
            .filter(pk=contact_id, offer_expires_at__lte=now)  # still due: not accepted meanwhile
            .first()
        )
        if contact is None:
            return
        operator_id = contact.operator_id
        end_offer(contact, OfferOutcome.EXPIRED, now=now, by=WORKER)
        done.expired += 1
        done.set_away += _missed(contact, operator_id, now=now)
        _next(contact, now=now, rng=rng, by=WORKER)
        if contact.operator_id is None:
            done.waiting += 1
        else:
            done.reoffered += 1


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


def _missed(contact: Contact, operator_id: int, *, now: datetime) -> int:
    """Count the expired offer in the operator's run for the source; at the source's
    missed_offers_before_away the operator is set away (missed offers) by the worker. 1 if so."""
    weights = SourceOperatorWeight.objects.filter(source_id=contact.source_id, operator_id=operator_id)
    weights.update(missed_offers=F("missed_offers") + 1)
    missed = weights.values_list("missed_offers", flat=True).first() or 0
    limit = contact.source.missed_offers_before_away
    if not limit or missed < limit:
        return 0
    weights.update(missed_offers=0)
    operator = Operator.objects.select_for_update().filter(pk=operator_id).first()
    if operator is None or operator.presence != Presence.AVAILABLE:
        return 0
    operator._change_reason = WORKER
    capacity.update_operator(
        operator=operator, presence=Presence.AWAY, presence_reason=AwayReason.MISSED_OFFERS, now=now
    )
    log.info(
        "operator=%s set away after %s missed offers of source=%s", operator_id, missed, contact.source_id
    )
    return 1


def _next(contact: Contact, *, now: datetime, rng: random.Random | None, by: str) -> Contact:
    """Offer the contact to the next operator of the round (or keep it waiting): the caller has ended the
    pending offer and holds the contact's lock. `by`: what ended the offer (the explanation's who)."""
    choice, _ = choose_for(contact, now=now, rng=rng or default_rng)
    store_choice(contact, choice, path=AssignmentPath.REOFFER, now=now, by=by)
    return contact
