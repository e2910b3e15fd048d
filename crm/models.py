"""What the data is: operators, sources with per-operator weights, leads and their contacts."""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone


def new_token() -> str:
    """A webhook secret: 32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def window_start(now: datetime | None = None) -> datetime:
    """Start of the rolling load window: contacts created after it count towards an operator's load."""
    return (now or timezone.now()) - timedelta(hours=settings.LOAD_WINDOW_HOURS)


class TimeStamped(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class OperatorQuerySet(models.QuerySet):
    def with_load(self, now: datetime | None = None) -> "OperatorQuerySet":
        """Annotate `load`: the operator's contacts in the window, one index range per operator."""
        in_window = (
            Contact.objects.in_window(now)
            .filter(operator=OuterRef("pk"))
            .order_by()
            .values("operator")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return self.annotate(load=Coalesce(Subquery(in_window), 0))


class Operator(TimeStamped):
    name = models.CharField(max_length=200)
    is_active = models.BooleanField("active", default=True, help_text="Inactive operators receive no contacts.")
    load_limit = models.PositiveIntegerField(
        default=20,
        help_text="Most contacts the operator may receive within the load window; 0 means none.",
    )

    objects = OperatorQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class OperatorHour(models.Model):
    """How many contacts an operator received in one clock hour (UTC).

    Kept by database triggers on crm_contact (migration 0003) for every insert, delete and update, however
    the row was written; no Python code writes it. An operator's load is then the sum of a day's worth of
    these rows plus an exact count of the window's first, partial hour: a handful of rows to read,
    whatever the load or the history.
    """

    pk = models.CompositePrimaryKey("operator", "hour_start")
    operator = models.ForeignKey("Operator", on_delete=models.CASCADE, related_name="hours", db_index=False)
    hour_start = models.DateTimeField()
    contacts = models.IntegerField()

    class Meta:
        ordering = ["operator", "hour_start"]

    def __str__(self) -> str:
        return f"{self.operator_id} @ {self.hour_start:%Y-%m-%d %H:00}: {self.contacts}"


class Source(TimeStamped):
    name = models.CharField(max_length=100, unique=True, help_text="The channel: a bot, a site form, a phone line.")
    token = models.CharField(
        max_length=64,
        unique=True,
        default=new_token,
        editable=False,
        help_text="Secret the channel sends as 'Authorization: Bearer <token>'.",
    )
    operators = models.ManyToManyField(Operator, through="SourceOperatorWeight", related_name="sources")

    class Meta:
        ordering = ["name"]
        constraints = [models.CheckConstraint(condition=~Q(token=""), name="source_token_not_blank")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # A blank token would let any empty bearer match; never store one.
        if not self.token:
            self.token = new_token()
        super().save(*args, **kwargs)


class SourceOperatorWeight(models.Model):
    # The unique (source, operator) constraint is the index for "the source's operators".
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="weights", db_index=False)
    operator = models.ForeignKey(Operator, on_delete=models.CASCADE, related_name="weights")
    weight = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Relative share: an operator with weight 3 gets three times the contacts of one with weight 1.",
    )

    class Meta:
        verbose_name = "operator weight"
        ordering = ["source_id", "operator_id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "operator"], name="weight_unique_source_operator"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.source} → {self.operator}: {self.weight}"


class Lead(TimeStamped):
    external_id = models.CharField(
        "external id", max_length=255, unique=True, help_text="The customer's id in the channel that sent them."
    )
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_at", "id"], name="lead_newest")]

    def __str__(self) -> str:
        return self.name or self.external_id


class UnassignedReason(models.TextChoices):
    NO_OPERATORS = "no_operators", "no operators configured for the source"
    ALL_INACTIVE = "all_inactive", "every operator of the source is inactive"
    ALL_AT_LIMIT = "all_at_limit", "every active operator is at the load limit"


class ContactQuerySet(models.QuerySet):
    def in_window(self, now: datetime | None = None) -> "ContactQuerySet":
        return self.filter(created_at__gt=window_start(now))

    def unassigned(self) -> "ContactQuerySet":
        return self.filter(operator__isnull=True)

    def datetimes(self, field_name: str, kind: str, order: str = "ASC", tzinfo=None):
        """The years, months or days that have contacts, found by walking the created_at index.

        Django's own version is a SELECT DISTINCT over every matching row (a scan of the whole table for
        the admin's date hierarchy). This asks for the first contact, then for the first contact after
        that one's period, and so on: one index lookup per period that has contacts, and the same answer.
        """
        if field_name != "created_at" or kind not in ("year", "month", "day"):
            return super().datetimes(field_name, kind, order, tzinfo)
        tz = tzinfo or timezone.get_current_timezone()
        times = self.order_by("created_at").values_list("created_at", flat=True)
        periods = []
        found = times.first()
        while found is not None:
            periods.append(_period_start(found.astimezone(tz), kind))
            after = _period_start(periods[-1] + timedelta(days={"year": 366, "month": 32, "day": 1}[kind]), kind)
            found = times.filter(created_at__gte=after).first()
        return periods if order == "ASC" else periods[::-1]


def _period_start(moment: datetime, kind: str) -> datetime:
    """Midnight of the moment's first day of the year, month or day, in the moment's own time zone."""
    day = moment.date()
    if kind in ("year", "month"):
        day = day.replace(day=1, month=1 if kind == "year" else day.month)
    return timezone.make_aware(datetime.combine(day, datetime.min.time()), moment.tzinfo)


class Contact(models.Model):
    """One appeal of a lead through a source; created only by distribution.services.assign_contact."""

    # Each foreign key is the first column of a composite index below, so none needs an index of its own.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="contacts", db_index=False)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="contacts", db_index=False)
    operator = models.ForeignKey(
        Operator, on_delete=models.PROTECT, null=True, blank=True, related_name="contacts", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    message = models.TextField(blank=True)
    unassigned_reason = models.CharField(max_length=20, choices=UnassignedReason.choices, blank=True)
    explanation = models.JSONField(
        default=dict, blank=True, help_text="What the choice saw: candidates, exclusions, probabilities, outcome."
    )
    # A webhook retry with the same Idempotency-Key gets this contact back instead of a second one.
    idempotency_key = models.CharField(max_length=255, blank=True)
    request_hash = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the request's fields, to refuse a reused key."
    )

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # An operator's load is an index range over (operator, created_at): never a scan of history.
            # The trailing id matches the pages' order (newest first, id breaking ties), so a filtered page
            # reads its 50 rows off the index instead of sorting every match (SQLite has no incremental sort).
            models.Index(fields=["operator", "created_at", "id"], name="contact_operator_window"),
            models.Index(fields=["source", "created_at", "id"], name="contact_source_window"),
            models.Index(fields=["lead", "created_at", "id"], name="contact_lead_timeline"),
            models.Index(fields=["created_at", "id"], name="contact_newest"),
            models.Index(fields=["created_at", "id"], condition=Q(operator__isnull=True), name="contact_unassigned"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(operator__isnull=True, unassigned_reason__in=UnassignedReason.values)
                | Q(operator__isnull=False, unassigned_reason=""),
                name="contact_reason_iff_unassigned",
            ),
            models.UniqueConstraint(
                fields=["source", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="contact_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"Contact #{self.pk} of {self.lead_id}"
