"""The outbound events' codes, defined once with their labels (the API, the admin, the docs use these)."""

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _


class EventType(TextChoices):
    CONTACT_ASSIGNED = "contact.assigned", _("a contact was given to an operator")
    CONTACT_OFFERED = "contact.offered", _("a contact was offered to an operator")
    CONTACT_OFFER_EXPIRED = "contact.offer_expired", _("an offer expired unanswered")
    CONTACT_OFFER_DECLINED = "contact.offer_declined", _("an offer was declined")
    CONTACT_ACCEPTED = "contact.accepted", _("an operator accepted a contact")
    CONTACT_CLOSED = "contact.closed", _("a contact was closed")
    CONTACT_REOPENED = "contact.reopened", _("a contact was reopened")
    CONTACT_WAITING = "contact.waiting", _("a contact waits without an operator")
    OPERATOR_PRESENCE_CHANGED = "operator.presence_changed", _("an operator's presence changed")


class DeliveryStatus(TextChoices):
    PENDING = "pending", _("pending")  # to be sent, or sent again after a failure
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("failed")  # every attempt failed: given up
