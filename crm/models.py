"""What the data is: operators, sources with per-operator weights, leads and their contacts."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import eligibility
from crm.choices import (
    AwayReason,
    ContactState,
    OfferOutcome,
    Presence,
    ScheduleExceptionKind,
    Strategy,
    UnassignedReason,
)
from crm.history import TrackedHistory
from crm.secrets import PREFIX_LENGTH, Secret
from crm.validators import multi_line, single_line, time_zone

# The largest number the integer columns (limits, weights) hold on PostgreSQL. The models' validators say
# so on every engine, and every form and API field that stores into them reads its bounds from the model
# field (crm.validators.bounds), so a number too large is a 400 naming the field, never a database error.
INT_MAX = 2**31 - 1
MAX_ACCEPT_SECONDS = 86_400  # an offer runs a day at most


class TimeStamped(models.Model):
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class Skill(models.Model):
    """A skill supervisors name (`ru`, `en`, `b2b`, `vip`): operators hold any number; a contact or its
    source may require some (only operators holding all of them are eligible) and a source may prefer some
    for a while (crm.eligibility, distribution.router)."""

    name = models.CharField(
        _("name"),
        max_length=30,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9][a-z0-9_-]*$", _("Lower-case letters, digits, - and _."))],
        help_text=_("A short code: ru, en, b2b, vip."),
    )

    class Meta:
        verbose_name = _("skill")
        verbose_name_plural = _("skills")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def site_time_zone() -> str:
    """A new operator's time zone: the site's (TIME_ZONE)."""
    return settings.TIME_ZONE


class OperatorQuerySet(models.QuerySet):
    def with_load(self, now: datetime | None = None) -> "OperatorQuerySet":
        """Annotate `load`: the operator's contacts in the window (crm.eligibility.load_of)."""
        return self.annotate(load=eligibility.load_of("pk", now=now))


class Operator(TimeStamped):
    name = models.CharField(_("name"), max_length=200, validators=[single_line])
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive operators receive no contacts.")
    )
    load_limit = models.PositiveIntegerField(
        _("load limit"),
        default=20,
        validators=[MaxValueValidator(INT_MAX)],
        help_text=_("Most contacts the operator may receive within the load window; 0 means none."),
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="operator",
        verbose_name=_("user account"),
        help_text=_("The account the operator signs in with to see their work (optional)."),
    )
    presence = models.CharField(
        _("presence"),
        max_length=10,
        choices=Presence.choices,
        default=Presence.AVAILABLE,
        help_text=_("Only available operators are given contacts."),
    )
    presence_reason = models.CharField(
        _("away because of"), max_length=20, choices=AwayReason.choices, blank=True
    )
    # A deadline the worker keeps (distribution.worker): the operator is available again from this moment.
    presence_until = models.DateTimeField(
        _("back at"), null=True, blank=True, help_text=_("Available again by itself at this moment.")
    )
    skills = models.ManyToManyField(Skill, blank=True, related_name="operators", verbose_name=_("skills"))
    timezone = models.CharField(
        _("time zone"),
        max_length=64,
        default=site_time_zone,
        validators=[time_zone],
        help_text=_("The zone the operator's shifts are written in (an IANA name such as Europe/Moscow)."),
    )
    # The schedule's shift now or next, in UTC, kept by crm.shifts from the weekly intervals and the
    # exceptions, so the intake decides "on shift" from the operator's row alone (no extra round trip).
    # Not scheduled: always on shift. `shift_due_at`: when the worker must look again (the shift's start,
    # to route waiting contacts; its end, to find the next one).
    scheduled = models.BooleanField(_("works to a schedule"), default=False, editable=False)
    shift_starts_at = models.DateTimeField(_("shift starts at"), null=True, blank=True, editable=False)
    shift_ends_at = models.DateTimeField(_("shift ends at"), null=True, blank=True, editable=False)
    shift_due_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = OperatorQuerySet.as_manager()
    # The shift's fields are a cache the worker keeps (crm.shifts), not a change anyone made.
    history = TrackedHistory(
        kind="operator",
        excluded_fields=["updated_at", "scheduled", "shift_starts_at", "shift_ends_at", "shift_due_at"],
    )

    class Meta:
        verbose_name = _("operator")
        verbose_name_plural = _("operators")
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(presence__in=Presence.values), name="operator_presence_valid"),
            # A reason only for being away; a return time only for someone not available.
            models.CheckConstraint(
                condition=Q(presence=Presence.AWAY) | Q(presence_reason=""), name="operator_reason_iff_away"
            ),
            models.CheckConstraint(
                condition=~Q(presence=Presence.AVAILABLE) | Q(presence_until__isnull=True),
                name="operator_until_iff_not_available",
            ),
        ]
        indexes = [
            # The worker's deadlines: a few rows each, found without reading every operator.
            models.Index(
                fields=["presence_until"], condition=Q(presence_until__isnull=False), name="operator_back_at"
            ),
            models.Index(
                fields=["shift_due_at"], condition=Q(shift_due_at__isnull=False), name="operator_shift_due"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ShiftInterval(models.Model):
    """A weekly interval of an operator's schedule, in the operator's time zone. An end at or before the
    start crosses midnight (22:00–06:00 ends the next morning)."""

    operator = models.ForeignKey(
        Operator, on_delete=models.CASCADE, related_name="shift_intervals", verbose_name=_("operator")
    )
    weekday = models.PositiveSmallIntegerField(
        _("weekday"),
        choices=[
            (0, _("Monday")),
            (1, _("Tuesday")),
            (2, _("Wednesday")),
            (3, _("Thursday")),
            (4, _("Friday")),
            (5, _("Saturday")),
            (6, _("Sunday")),
        ],
    )
    starts = models.TimeField(_("from"))
    ends = models.TimeField(_("to"), help_text=_("At or before the start: the next day."))

    class Meta:
        verbose_name = _("shift")
        verbose_name_plural = _("weekly schedule")
        ordering = ["weekday", "starts", "id"]
        constraints = [models.CheckConstraint(condition=Q(weekday__lte=6), name="shift_weekday_valid")]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts:%H:%M}–{self.ends:%H:%M}"


class ScheduleException(models.Model):
    """Dates that differ from the weekly schedule: days off (a holiday, leave), or other hours. With no
    operator it is everyone's (a company holiday; operators without a weekly schedule keep working)."""

    operator = models.ForeignKey(
        Operator,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="schedule_exceptions",
        verbose_name=_("operator"),
        help_text=_("Empty: everyone's (a company holiday)."),
    )
    start_date = models.DateField(_("from"))
    end_date = models.DateField(_("to (inclusive)"))
    kind = models.CharField(
        _("kind"), max_length=10, choices=ScheduleExceptionKind.choices, default=ScheduleExceptionKind.DAY_OFF
    )
    starts = models.TimeField(_("hours from"), null=True, blank=True)
    ends = models.TimeField(_("hours to"), null=True, blank=True)

    class Meta:
        verbose_name = _("schedule exception")
        verbose_name_plural = _("schedule exceptions")
        ordering = ["start_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")), name="exception_dates_in_order"
            ),
            models.CheckConstraint(
                condition=Q(kind=ScheduleExceptionKind.DAY_OFF, starts__isnull=True, ends__isnull=True)
                | Q(kind=ScheduleExceptionKind.HOURS, starts__isnull=False, ends__isnull=False),
                name="exception_hours_iff_changed_hours",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.start_date}–{self.end_date}: {self.get_kind_display()}"


class Holiday(ScheduleException):
    """Everyone's exceptions (no operator): company holidays and changed hours, as the admin lists them."""

    class Meta:
        proxy = True
        verbose_name = _("company holiday")
        verbose_name_plural = _("company holidays")


class WorkerBeat(models.Model):
    """When each worker (`manage.py run_worker`) last finished a pass: the dashboard warns when none has run
    for a minute, since nothing timed (returns, shift starts, the queue) happens without one."""

    worker = models.CharField(max_length=200, primary_key=True)  # host and process
    last_pass_at = models.DateTimeField()

    class Meta:
        verbose_name = _("worker")
        verbose_name_plural = _("workers")

    def __str__(self) -> str:
        return self.worker


class LoadHour(models.Model):
    """How many contacts were given to an operator in one UTC hour (by `Contact.assigned_at`), kept by
    database triggers on the contacts' table (migration 0017), so that rows written any way count.

    The intake reads an operator's load as these totals over the window's whole hours plus the contacts of
    its first, partial hour counted one by one (distribution.sql): a few rows, however many contacts the
    window holds, and the same number as counting them (crm.eligibility.in_window). Old hours are kept (at
    most a row a contact, far fewer where operators take several an hour), so that a longer
    LOAD_WINDOW_HOURS set later finds its hours there."""

    pk = models.CompositePrimaryKey("operator", "hour")
    # No database constraint: the triggers' writes need no check of the operator's row (its contacts, which
    # protect it from deletion, are what they count); Django's cascade still removes an operator's hours.
    operator = models.ForeignKey(
        Operator, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    hour = models.IntegerField()  # whole hours since the Unix epoch, UTC (crm.eligibility.epoch_hour)
    given = models.IntegerField()


class RouteChange(models.Model):
    """One change to what a source's route reads (distribution.routes): its own routing columns, its
    weights, its operators' routing columns, its skills and its operators' skills, a skill's name. Written
    only by database triggers (migration 0021), so that every write counts, whatever path made it.

    The ids of a source's rows are its route's version: a worker that remembers a route confirms it with
    every contact by reading these ids (a few) instead of the route (every operator's row). Compared as a
    set, not by the newest id: ids are taken in one order and committed in another. The worker keeps them
    few (distribution.worker), deleting a source's rows only together with inserting a new one, so that a
    change deleted before anyone read it still leaves an id no one has seen."""

    # No foreign key: a source's rows may outlive it (its token, and so its route, is gone with it).
    source_id = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["source_id", "id"], name="routechange_source")]


class Source(TimeStamped):
    name = models.CharField(
        _("name"),
        max_length=100,
        unique=True,
        validators=[single_line],
        help_text=_("The channel: a bot, a site form, a phone line."),
    )
    # The current webhook token's first characters (its secrets, digests only, are SourceToken rows).
    token_prefix = models.CharField(
        _("token prefix"),
        max_length=PREFIX_LENGTH,
        editable=False,
        help_text=_("The current token's first characters, to tell tokens apart."),
    )
    keep_operator = models.BooleanField(
        _("returning leads keep their operator"),
        default=False,
        help_text=_(
            "A returning lead goes back to the operator of its latest assigned contact when that operator "
            "can take it now (active, weighted for this source, under the limit); otherwise the usual draw runs."
        ),
    )
    # Offers (off when empty): the draw offers the contact to the operator until this many seconds have
    # passed; declined or expired, it is offered to the next one (distribution.offers).
    accept_within_seconds = models.PositiveIntegerField(
        _("accept within (seconds)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_ACCEPT_SECONDS)],
        help_text=_(
            "Empty: contacts are assigned at once. Set: each contact is offered to the chosen operator, who "
            "must accept it within this many seconds, or it is offered to the next one."
        ),
    )
    missed_offers_before_away = models.PositiveIntegerField(
        _("missed offers before away"),
        default=3,
        validators=[MaxValueValidator(1000)],
        help_text=_(
            "An operator who lets this many offers of this source expire in a row is set away (missed "
            "offers); 0 never does."
        ),
    )
    strategy = models.CharField(
        _("routing strategy"),
        max_length=20,
        choices=Strategy.choices,
        default=Strategy.WEIGHTED,
        help_text=_(
            "Weighted draw (by weight), round robin (whoever was given one of this source's contacts longest "
            "ago), or least loaded (the lowest load as a share of the limit); ties are broken at random."
        ),
    )
    required_skills = models.ManyToManyField(
        Skill,
        blank=True,
        related_name="+",
        verbose_name=_("required skills"),
        help_text=_("Only operators holding all of these (and any a contact asks for) take its contacts."),
    )
    preferred_skills = models.ManyToManyField(
        Skill,
        blank=True,
        related_name="+",
        verbose_name=_("preferred skills"),
        help_text=_("While an operator holding these can take the contact, the choice is among them."),
    )
    relax_preferred_after_seconds = models.PositiveIntegerField(
        _("relax preferred skills after (seconds)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_ACCEPT_SECONDS)],
        help_text=_(
            "A contact that has waited this long is routed among everyone with the required skills. Empty: "
            "the preferred skills are never relaxed."
        ),
    )
    # Any required or preferred skill (kept by the service that sets them): the route reads operators'
    # skills only for such sources, so sources without skills pay nothing for them.
    uses_skills = models.BooleanField(default=False, editable=False)
    operators = models.ManyToManyField(
        Operator, through="SourceOperatorWeight", related_name="sources", verbose_name=_("operators")
    )
    history = TrackedHistory(kind="source", excluded_fields=["updated_at"])

    # The plain token, set only on the instance that made it (creation or regeneration): never stored.
    token: str = ""
    secret_prefix_field = "token_prefix"  # crm.secrets

    class Meta:
        verbose_name = _("source")
        verbose_name_plural = _("sources")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SourceToken(Secret):
    """A webhook token of a source (crm.secrets): the current one, or a rotated one in its grace period."""

    source = models.ForeignKey(
        Source, on_delete=models.CASCADE, related_name="secrets", verbose_name=_("source")
    )

    class Meta(Secret.Meta):
        verbose_name = _("webhook token")
        verbose_name_plural = _("webhook tokens")


class SourceOperatorWeight(models.Model):
    # The unique (source, operator) constraint is the index for "the source's operators".
    source = models.ForeignKey(
        Source, on_delete=models.CASCADE, related_name="weights", db_index=False, verbose_name=_("source")
    )
    operator = models.ForeignKey(
        Operator, on_delete=models.CASCADE, related_name="weights", verbose_name=_("operator")
    )
    weight = models.PositiveIntegerField(
        _("weight"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(INT_MAX)],
        help_text=_(
            "Relative share: an operator with weight 3 gets three times the contacts of one with weight 1."
        ),
    )

    # Offers of this source the operator let expire in a row (reset by an accept or a decline): at the
    # source's missed_offers_before_away the worker sets the operator away. A counter, not a change anyone
    # made: updated with .update(), so it writes no history.
    missed_offers = models.PositiveIntegerField(default=0, editable=False)
    # When the operator was last given a contact of this source (round robin sources keep it; the longest
    # ago, or never, goes first). Updated with .update(): no history.
    last_given_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = TrackedHistory(kind="weight", excluded_fields=["missed_offers", "last_given_at"])

    class Meta:
        verbose_name = _("operator weight")
        verbose_name_plural = _("operator weights")
        ordering = ["source_id", "operator_id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "operator"], name="weight_unique_source_operator"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.source} → {self.operator}: {self.weight}"


class LeadQuerySet(models.QuerySet):
    """Leads by the contacts they have: each a semi-join over one of the contacts' indexes."""

    @staticmethod
    def having(**contacts: object) -> Q:
        """Leads with a contact matching these lookups (`source_id=3`, `operator__isnull=True`)."""
        return Q(pk__in=Contact.objects.order_by().filter(**contacts).values("lead_id"))

    def through_source(self, source_id: int) -> "LeadQuerySet":
        return self.filter(self.having(source_id=source_id))

    def handled_by(self, operator_id: int) -> "LeadQuerySet":
        return self.filter(self.having(operator_id=operator_id))

    def waiting(self) -> "LeadQuerySet":
        return self.filter(self.having(operator__isnull=True))


class Lead(TimeStamped):
    external_id = models.CharField(
        _("external id"),
        max_length=255,
        validators=[single_line],
        help_text=_("The customer's id in the channel that sent them."),
    )
    name = models.CharField(_("name"), max_length=200, blank=True, validators=[single_line])

    objects = LeadQuerySet.as_manager()

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_at", "id"], name="lead_newest")]
        # Unique as a constraint, not as the field's unique=True: on PostgreSQL that also makes a second
        # index for LIKE 'prefix%', which no query here asks for and every new lead paid for (migration 0019).
        constraints = [models.UniqueConstraint(fields=["external_id"], name="crm_lead_external_id_key")]

    def __str__(self) -> str:
        return self.name or self.external_id


# A contact still being worked on by its operator (My work's "open"): offered, accepted or assigned.
OPEN_STATES = (ContactState.OFFERED, ContactState.ACCEPTED, ContactState.ASSIGNED)


class ContactQuerySet(models.QuerySet):
    def in_window(self, now: datetime | None = None) -> "ContactQuerySet":
        """Contacts that count towards their operator's load now (crm.eligibility)."""
        return self.filter(eligibility.in_window(now))

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
            after = _period_start(
                periods[-1] + timedelta(days={"year": 366, "month": 32, "day": 1}[kind]), kind
            )
            found = times.filter(created_at__gte=after).first()
        return periods if order == "ASC" else periods[::-1]


def _period_start(moment: datetime, kind: str) -> datetime:
    """Midnight of the moment's first day of the year, month or day, in the moment's own time zone."""
    day = moment.date()
    if kind in ("year", "month"):
        day = day.replace(day=1, month=1 if kind == "year" else day.month)
    return timezone.make_aware(datetime.combine(day, datetime.min.time()), moment.tzinfo)


class Contact(models.Model):
    """One appeal of a lead through a source; created only by distribution (intake.store_contact)."""

    # Each foreign key is the first column of a composite index below, so none needs an index of its own.
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="contacts", db_index=False, verbose_name=_("lead")
    )
    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="contacts", db_index=False, verbose_name=_("source")
    )
    operator = models.ForeignKey(
        Operator,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="contacts",
        db_index=False,
        verbose_name=_("operator"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    # When the operator was given the contact (by any path); the load counts by this, not by arrival.
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True, editable=False)
    message = models.TextField(_("message"), blank=True, max_length=10_000, validators=[multi_line])
    unassigned_reason = models.CharField(
        _("unassigned reason"), max_length=30, choices=UnassignedReason.choices, blank=True
    )
    explanation = models.JSONField(
        _("explanation"),
        default=dict,
        blank=True,
        help_text=_("What the choice saw: candidates, exclusions, probabilities, outcome."),
    )
    state = models.CharField(
        _("state"), max_length=10, choices=ContactState.choices, default=ContactState.WAITING
    )
    # The names of the skills the channel asked for, required with the source's own.
    skills = models.JSONField(_("skills asked for"), default=list, blank=True)
    # A deadline the worker keeps (distribution.worker): a pending offer ends here unless accepted.
    offer_expires_at = models.DateTimeField(_("offer expires at"), null=True, blank=True, editable=False)
    # Offers are made in rounds: those who passed (declined, let expire) are left out of the rest of the
    # round; when nobody is left the contact waits, and the next round, not before `route_after`, may
    # offer it to anyone again.
    offer_round = models.PositiveIntegerField(default=0, editable=False)
    route_after = models.DateTimeField(_("routed again not before"), null=True, blank=True, editable=False)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, editable=False)
    outcome = models.CharField(
        _("outcome"), max_length=500, blank=True, validators=[multi_line], help_text=_("How it was handled.")
    )
    # A webhook retry with the same Idempotency-Key gets this contact back instead of a second one.
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, blank=True)
    request_hash = models.CharField(
        _("request hash"),
        max_length=64,
        blank=True,
        help_text=_("SHA-256 of the request's fields, to refuse a reused key."),
    )

    objects = ContactQuerySet.as_manager()

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The pages' "contacts of an operator" (and of a source, a lead; all of them): the trailing id
            # matches their order (newest first, id breaking ties), so a filtered page reads its 50 rows off
            # the index instead of sorting every match (SQLite has no incremental sort).
            models.Index(fields=["operator", "created_at", "id"], name="contact_operator_window"),
            # An operator's load is an index range over (operator, assigned_at): at most `limit` entries.
            models.Index(fields=["operator", "assigned_at"], name="contact_operator_load"),
            models.Index(fields=["source", "created_at", "id"], name="contact_source_window"),
            models.Index(fields=["lead", "created_at", "id"], name="contact_lead_timeline"),
            models.Index(fields=["created_at", "id"], name="contact_newest"),
            models.Index(
                fields=["created_at", "id"], condition=Q(operator__isnull=True), name="contact_unassigned"
            ),
            # The worker's offer deadlines: the pending offers only.
            models.Index(
                fields=["offer_expires_at"],
                condition=Q(offer_expires_at__isnull=False),
                name="contact_offer_deadline",
            ),
            # My work: an operator's open contacts, newest first, without reading the closed ones.
            models.Index(
                fields=["operator", "assigned_at", "id"],
                condition=Q(state__in=OPEN_STATES),
                name="contact_open_by_operator",
            ),
            # What happened in a period (the dashboard's window, the reports' days; crm.selectors.outcomes):
            # contacts given, and closed, then; ranges over these, never a scan of the history.
            models.Index(
                fields=["assigned_at"], condition=Q(assigned_at__isnull=False), name="contact_given"
            ),
            models.Index(fields=["closed_at"], condition=Q(closed_at__isnull=False), name="contact_closed"),
            # The same per operator and per source, for the pages that show some of them (the reports' and
            # the dashboard's pages of 50). No new contact is closed, so the intake never writes these.
            models.Index(
                fields=["operator", "closed_at"],
                condition=Q(closed_at__isnull=False),
                name="contact_closed_by_operator",
            ),
            models.Index(
                fields=["source", "closed_at"],
                condition=Q(closed_at__isnull=False),
                name="contact_closed_by_source",
            ),
            # The dashboard's queue per source (how many wait, since when) over the waiting contacts alone.
            models.Index(
                fields=["source", "created_at"],
                condition=Q(operator__isnull=True),
                name="contact_waiting_by_source",
            ),
        ]
        permissions = [("assign_contact", "Can assign contacts to operators")]
        constraints = [
            models.CheckConstraint(
                condition=Q(operator__isnull=True, unassigned_reason__in=UnassignedReason.values)
                | Q(operator__isnull=False, unassigned_reason=""),
                name="contact_reason_iff_unassigned",
            ),
            models.CheckConstraint(
                condition=Q(operator__isnull=True, assigned_at__isnull=True)
                | Q(operator__isnull=False, assigned_at__isnull=False),
                name="contact_assigned_at_iff_operator",
            ),
            models.CheckConstraint(condition=Q(state__in=ContactState.values), name="contact_state_valid"),
            # Waiting is exactly "no operator"; an offer runs only while offered.
            models.CheckConstraint(
                condition=Q(state=ContactState.WAITING, operator__isnull=True)
                | (~Q(state=ContactState.WAITING) & Q(operator__isnull=False)),
                name="contact_waiting_iff_no_operator",
            ),
            models.CheckConstraint(
                condition=Q(state=ContactState.OFFERED, offer_expires_at__isnull=False)
                | (~Q(state=ContactState.OFFERED) & Q(offer_expires_at__isnull=True)),
                name="contact_deadline_iff_offered",
            ),
            models.UniqueConstraint(
                fields=["source", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="contact_unique_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        """The contact's arrival time, lead and source ("2026-11-23 16:40 UTC · Ivan · Telegram bot"): what
        a supervisor recognises. Reads the lead and the source, so lists select them along."""
        from crm.templatetags.leadflow import when  # the pages' one date format, defined there

        return f"{when(self.created_at)} · {self.lead} · {self.source}"


class Offer(models.Model):
    """One offer of a contact to an operator (sources with accept_within_seconds), and how it ended. The
    lead page and the explanation list them in order; the reports count them."""

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="offers", db_index=False, verbose_name=_("contact")
    )
    # The contact's source and the operator, here too, so counts per operator or source in a window read
    # this table alone.
    source = models.ForeignKey(
        Source, on_delete=models.CASCADE, related_name="+", db_index=False, verbose_name=_("source")
    )
    operator = models.ForeignKey(
        Operator, on_delete=models.CASCADE, related_name="offers", db_index=False, verbose_name=_("operator")
    )
    round = models.PositiveIntegerField(default=0)
    offered_at = models.DateTimeField(_("offered at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=OfferOutcome.choices, default=OfferOutcome.PENDING
    )
    # Who ended it, in crm.history's words: a user name, "api:<key>", "worker"; empty for the operator's
    # own accept or decline on My work (the operator is `operator`).
    ended_by = models.CharField(_("ended by"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        ordering = ["contact_id", "id"]
        indexes = [
            models.Index(fields=["contact", "id"], name="offer_contact"),
            models.Index(fields=["operator", "offered_at"], name="offer_operator_window"),
            models.Index(fields=["source", "offered_at"], name="offer_source_window"),
            # Offers ended in a period, all sources at once (who answers, the reports): ended ones only, so
            # the intake's pending offer costs nothing more.
            models.Index(fields=["ended_at"], condition=Q(ended_at__isnull=False), name="offer_ended"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(outcome__in=OfferOutcome.values), name="offer_outcome_valid"),
            models.CheckConstraint(
                condition=Q(outcome=OfferOutcome.PENDING, ended_at__isnull=True)
                | (~Q(outcome=OfferOutcome.PENDING) & Q(ended_at__isnull=False)),
                name="offer_ended_iff_not_pending",
            ),
            # One pending offer per contact at most: two operators can never both hold it.
            models.UniqueConstraint(
                fields=["contact"], condition=Q(outcome=OfferOutcome.PENDING), name="offer_one_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} → {self.operator}: {self.get_outcome_display()}"
