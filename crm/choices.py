"""Codes the database stores and the explanation uses, each with its label: defined once, here.

Plain enums (no models, no queries), so the pure selection code may use them too.
"""

from django.db.models import TextChoices


class UnassignedReason(TextChoices):
    """Why a contact has no operator (stored on the contact)."""

    NO_OPERATORS = "no_operators", "no operators configured for the source"
    ALL_INACTIVE = "all_inactive", "every operator of the source is inactive"
    ALL_AT_LIMIT = "all_at_limit", "every active operator is at the load limit"


class Exclusion(TextChoices):
    """Why one operator could not take the contact (in the explanation)."""

    INACTIVE = "inactive", "switched off"
    NO_WEIGHT = "no_weight", "no longer an operator of this source"
    AT_LIMIT = "at_limit", "at the load limit"


class AssignmentPath(TextChoices):
    """How the contact reached its operator (in the explanation)."""

    DRAW = "draw", "weighted draw on arrival"
    STICKY = "sticky", "returning lead, back to the same operator"
    DRAIN = "drain", "routed from the waiting queue"
    CAPACITY_CHANGE = "capacity_change", "routed from the queue after a supervisor added capacity"
    ROUTE_AGAIN = "route_again", "routed again by a supervisor"
    MANUAL = "manual", "assigned by a supervisor"
    MANUAL_OVERRIDE = "manual_override", "assigned by a supervisor, overriding the limit or active flag"
