"""Outbound events: subscriptions (where to send which events), the outbox of events (written in the same
transaction as the change each describes) and one delivery per subscription and event."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Source
from events.choices import DeliveryStatus, EventType


class Subscription(models.Model):
    """A receiver of events: its URL, the event types it wants, all sources or one. Its signing secret is
    derived from a random salt and EVENTS_SIGNING_KEY (events.signing): the database alone holds nothing
    that signs."""

    url = models.URLField(_("URL"), max_length=500, help_text=_("Where events are POSTed (http or https)."))
    events = models.JSONField(_("event types"), default=list, help_text=_("The event types sent there."))
    source = models.ForeignKey(
        Source,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="subscriptions",
        verbose_name=_("source"),
        help_text=_("Empty: every source's contacts (and operators' presence)."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    secret_salt = models.CharField(max_length=64, editable=False)
    # A rotated secret keeps signing next to the new one until this moment, so receivers can switch over.
    previous_salt = models.CharField(max_length=64, blank=True, editable=False)
    previous_until = models.DateTimeField(null=True, blank=True, editable=False)
    secret_prefix = models.CharField(_("secret prefix"), max_length=8, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class Event(models.Model):
    """One change, in the outbox: written by the change's own transaction, so it exists if and only if the
    change committed; the worker then makes a delivery of it for each subscription that wants it
    (`dispatched`). `id` orders the events of one subject (a contact, an operator)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=40, choices=EventType.choices)
    created_at = models.DateTimeField(default=timezone.now)
    source = models.ForeignKey(Source, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # "contact:12" or "operator:3": the deliveries of one subject go out in order.
    subject = models.CharField(max_length=40)
    data = models.JSONField(default=dict)
    dispatched = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(dispatched=False), name="event_undispatched"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.subject}"


class Delivery(models.Model):
    """An event on its way to one subscription: attempts, the last answer, and when to try again."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("subscription")
    )
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("event")
    )
    subject = models.CharField(max_length=40)  # the event's, for the order per subject
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # A deadline the worker keeps: when to send (again). While a worker sends it, `leased_until` keeps the
    # others off; a worker that died mid-send leaves it to be sent again once that passes.
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    leased_until = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_duration_ms = models.PositiveIntegerField(_("last response time (ms)"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="delivery_once_per_subscription"),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="delivery_status_valid"
            ),
        ]
        indexes = [
            # The sender's due deliveries, and the order per subject: pending ones only.
            models.Index(
                fields=["next_attempt_at"], condition=Q(status=DeliveryStatus.PENDING), name="delivery_due"
            ),
            models.Index(
                fields=["subscription", "subject", "event"],
                condition=Q(status=DeliveryStatus.PENDING),
                name="delivery_pending_subject",
            ),
            models.Index(fields=["subscription", "status", "id"], name="delivery_recent"),
            # The dashboard's warning: deliveries given up lately (events.selectors).
            models.Index(
                fields=["next_attempt_at"], condition=Q(status=DeliveryStatus.FAILED), name="delivery_failed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription}"
