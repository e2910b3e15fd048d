"""Codes the database stores and the explanation uses, each with its label: defined once, here.

Plain enums (no models, no queries), so the pure selection code may use them too.
"""

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _


class UnassignedReason(TextChoices):
    """Why a contact has no operator (stored on the contact)."""

    NO_OPERATORS = "no_operators", _("no operators configured for the source")
    ALL_INACTIVE = "all_inactive", _("every operator of the source is inactive")
    NOBODY_ON_SHIFT = "nobody_on_shift", _("no active operator of the source is on shift")
    NOBODY_AVAILABLE = "nobody_available", _("every operator on shift is away or offline")
    NOBODY_WITH_SKILLS = "nobody_with_skills", _("no available operator has the required skills")
    ALL_AT_LIMIT = "all_at_limit", _("every active operator is at the load limit")
    # Offers (sources with accept_within_seconds): everyone who could take it declined it or let it expire.
    NOBODY_ACCEPTED = "nobody_accepted", _("everyone who could take it declined it or let the offer expire")
    # Preferred skills (sources that prefer some, until the relax time): nobody with them can take it yet.
    WAITING_FOR_PREFERRED = "waiting_for_preferred", _("waiting for an operator with the preferred skills")


class Exclusion(TextChoices):
    """Why one operator could not take the contact (in the explanation)."""

    INACTIVE = "inactive", _("switched off")
    OFF_SHIFT = "off_shift", _("off shift")
    AWAY = "away", _("away")  # the same codes as Presence's
    OFFLINE = "offline", _("offline")
    NO_WEIGHT = "no_weight", _("no longer an operator of this source")
    NO_SKILLS = "no_skills", _("lacks a required skill")
    PASSED = "passed", _("declined it or let the offer expire")
    AT_LIMIT = "at_limit", _("at the load limit")
    NOT_PREFERRED = "not_preferred", _("lacks the preferred skills (not yet relaxed)")


class AssignmentPath(TextChoices):
    """How the contact reached its operator (in the explanation)."""

    DRAW = "draw", _("weighted draw on arrival")
    STICKY = "sticky", _("returning lead, back to the same operator")
    DRAIN = "drain", _("routed from the waiting queue")
    CAPACITY_CHANGE = "capacity_change", _("routed from the queue as soon as capacity appeared")
    ROUTE_AGAIN = "route_again", _("routed again by a supervisor")
    MANUAL = "manual", _("assigned by a supervisor")
    MANUAL_OVERRIDE = "manual_override", _("assigned by a supervisor, overriding the limit or active flag")
    REOFFER = "reoffer", _("offered to the next operator after an offer was declined or expired")


class Strategy(TextChoices):
    """How a source chooses among the operators who can take a contact (distribution.selection)."""

    WEIGHTED = "weighted", _("weighted draw")
    ROUND_ROBIN = "round_robin", _("round robin")
    LEAST_LOADED = "least_loaded", _("least loaded")


class Actor(TextChoices):
    """What assigned a contact when no person did (the explanation's `by`, next to its path). A person is
    stored by their user name and an integration as "api:<key name>" (API_ACTOR_PREFIX)."""

    WEBHOOK = "webhook", _("on arrival")
    DRAIN = "drain", _("from the waiting queue")
    CAPACITY_CHANGE = "capacity_change", _("from the queue as soon as capacity appeared")


API_ACTOR_PREFIX = "api:"


class Presence(TextChoices):
    """Whether an operator is there to take contacts now (only `available` ones are given any)."""

    AVAILABLE = "available", _("available")
    AWAY = "away", _("away")
    OFFLINE = "offline", _("offline")


class AwayReason(TextChoices):
    """Why an operator is away."""

    BREAK = "break", _("break")
    LUNCH = "lunch", _("lunch")
    MEETING = "meeting", _("meeting")
    OTHER = "other", _("other")
    MISSED_OFFERS = "missed_offers", _("missed offers")  # set by the worker, never chosen by hand


# The reasons people pick (the worker alone sets missed_offers).
CHOSEN_AWAY_REASONS = (AwayReason.BREAK, AwayReason.LUNCH, AwayReason.MEETING, AwayReason.OTHER)


# My work's choices of when an operator going away is back, in minutes from now.
BACK_IN_MINUTES = (15, 30, 60)


class ScheduleExceptionKind(TextChoices):
    """A change to the weekly schedule for some dates."""

    DAY_OFF = "day_off", _("day off")
    HOURS = "hours", _("changed hours")


class ContactState(TextChoices):
    """Where a contact is in its life: waiting → offered → accepted (or assigned directly, for sources
    without offers) → closed."""

    WAITING = "waiting", _("waiting")
    OFFERED = "offered", _("offered")
    ACCEPTED = "accepted", _("accepted")
    ASSIGNED = "assigned", _("assigned")
    CLOSED = "closed", _("closed")


class OfferOutcome(TextChoices):
    """How an offer ended (pending while it runs)."""

    PENDING = "pending", _("pending")
    ACCEPTED = "accepted", _("accepted")
    DECLINED = "declined", _("declined")
    EXPIRED = "expired", _("expired")
    WITHDRAWN = "withdrawn", _("withdrawn by a supervisor")


class LoadState(TextChoices):
    """Where an operator's load stands against its limit, when it is not below it. Over the limit is
    possible: a supervisor's override, or a limit lowered under the current load."""

    FULL = "full", _("full")
    OVER_LIMIT = "over_limit", _("over the limit")
