"""Supervisors assign by hand: a contact to a chosen operator, or again through the draw."""

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from crm.choices import AssignmentPath, Exclusion, OfferOutcome
from crm.eligibility import Candidate, exclusion
from crm.models import Contact, Operator
from distribution.batching import Trip, retrying
from distribution.router import choose_for, default_rng, end_offer, lock_and_count, store_choice
from distribution.selection import decide


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
    only_if_waiting: bool = False,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> Contact | None:
    """A supervisor gives the contact to `operator`, or routes it again through the draw (operator None).

    A chosen operator must be active and under the limit unless `override` (recorded as such). Routing
    again never lands on the contact's current operator: it moves the contact, and its load, elsewhere.
    Raises AssignmentRefused (nothing changed) when the rules forbid it or nobody is free. With
    `only_if_waiting` (the queue's actions) a contact that got an operator since it was read is left as it
    is and None is answered.
    """
    now = now or timezone.now()

    def work() -> Contact | None:
        with transaction.atomic():
            locked = (
                Contact.objects.select_for_update(of=("self",)).select_related("source").get(pk=contact.pk)
            )
            if only_if_waiting and locked.operator_id is not None:
                return None
            if operator is None:
                choice, _ = choose_for(locked, now=now, rng=rng or default_rng, exclude=locked.operator_id)
                if choice.operator_id is None:
                    raise AssignmentRefused(choice.reason, gettext("Nobody else can take this contact now."))
                # A pending offer is withdrawn: the contact is offered (or given) to someone else.
                end_offer(locked, OfferOutcome.WITHDRAWN, now=now, by=by)
                store_choice(locked, choice, path=AssignmentPath.ROUTE_AGAIN, now=now, by=by)
                return locked
            pick = Candidate(operator_id=operator.pk, weight=1, limit=operator.load_limit, name=operator.name)
            counted = lock_and_count(Trip(), pick, source_id=locked.source_id, now=now, others_open=False)
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
            # Where the source makes offers, the supervisor's decision is an offer accepted at once.
            end_offer(locked, OfferOutcome.WITHDRAWN, now=now, by=by)
            store_choice(locked, choice, path=path, now=now, by=by, accepted=True)
            return locked

    return retrying(work)


@dataclass
class Bulk:
    """What a hand assignment of several contacts did."""

    done: int = 0
    outside: int = 0  # of them, given to an operator from outside the contact's source
    refusals: list[str] = field(default_factory=list)  # why each refused one stayed as it was
    gone: int = 0  # had an operator already when its turn came (only_if_waiting)


def assign_each(
    *,
    contacts: Iterable[Contact],
    operator: Operator | None,
    by: str,
    override: bool = False,
    only_if_waiting: bool = False,
) -> Bulk:
    """assign_manually for each contact, oldest first as the router goes, each in its own transaction."""
    bulk = Bulk()
    for contact in sorted(contacts, key=lambda c: (c.created_at, c.pk)):
        try:
            result = assign_manually(
                contact=contact, operator=operator, by=by, override=override, only_if_waiting=only_if_waiting
            )
        except AssignmentRefused as refusal:
            bulk.refusals.append(str(refusal))
            continue
        if result is None:
            bulk.gone += 1
        else:
            bulk.done += 1
            bulk.outside += bool(result.explanation.get("outside_source"))
    return bulk
