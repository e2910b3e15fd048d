"""Reads for the staff pages: each function runs a fixed number of queries, whatever the number of rows.

Pages stay cheap on big tables: a page counts one plain (join-free) filtered table, fetches its 50 rows,
and computes per-row aggregates for those rows only.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Max, Min, Q
from django.utils import timezone

from crm.models import Contact, Lead, Operator, Source, window_start

PAGE_SIZE = 50


@dataclass(frozen=True)
class OperatorLoad:
    operator: Operator
    load: int

    @property
    def percent(self) -> int:
        """How full the operator is, 0..100 (a limit of 0 counts as full)."""
        limit = self.operator.load_limit
        return min(100, round(100 * self.load / limit)) if limit else 100

    @property
    def is_full(self) -> bool:
        return self.load >= self.operator.load_limit


@dataclass(frozen=True)
class OperatorShare:
    operator: Operator
    weight: int  # 0 when the operator got contacts but is no longer among the source's operators
    weight_share: float  # percent of the source's total weight
    contacts: int
    actual_share: float  # percent of the source's assigned contacts in the window


@dataclass(frozen=True)
class SourceShares:
    source: Source
    contacts: int  # in the window, assigned or not
    unassigned: int
    rows: list[OperatorShare]


@dataclass(frozen=True)
class Backlog:
    count: int
    oldest: datetime | None
    in_window: int


@dataclass(frozen=True)
class LeadRow:
    lead: Lead
    contacts: int
    last_contact_at: datetime | None


def operator_loads(*, now: datetime) -> list[OperatorLoad]:
    """Every operator (active or not) with its load in the window, by name; one query."""
    return [OperatorLoad(operator=op, load=op.load) for op in Operator.objects.with_load(now)]


def source_shares(*, now: datetime, operators: list[Operator]) -> list[SourceShares]:
    """Per source: configured weight share against actual share of the window's contacts.

    Three queries: sources, their weights, and one grouped count of the window's contacts by source and
    operator. `operators` must hold every operator (names are taken from it, not queried again).
    """
    by_id = {op.pk: op for op in operators}
    counts: dict[int, dict[int | None, int]] = {}
    rows = (
        # Assigned in the window (the load's rule) or arrived in it and still waiting.
        Contact.objects.filter(Q(assigned_at__gt=window_start(now)) | Q(operator=None, created_at__gt=window_start(now)))
        .order_by()
        .values_list("source_id", "operator_id")
        .annotate(n=Count("pk"))
    )
    for source_id, operator_id, n in rows:
        counts.setdefault(source_id, {})[operator_id] = n

    result = []
    for source in Source.objects.only("name").prefetch_related("weights"):
        weights = {w.operator_id: w.weight for w in source.weights.all()}
        per_operator = counts.get(source.pk, {})
        unassigned = per_operator.get(None, 0)
        assigned = sum(per_operator.values()) - unassigned
        total_weight = sum(weights.values())
        shares = [
            OperatorShare(
                operator=by_id[operator_id],
                weight=weights.get(operator_id, 0),
                weight_share=_percent(weights.get(operator_id, 0), total_weight),
                contacts=per_operator.get(operator_id, 0),
                actual_share=_percent(per_operator.get(operator_id, 0), assigned),
            )
            # Operators that got contacts but have since been removed from the source are shown too. One
            # created after `operators` was read is left out until the next load rather than failing the page.
            for operator_id in weights.keys() | (per_operator.keys() - {None})
            if operator_id in by_id
        ]
        shares.sort(key=lambda s: (s.operator.name, s.operator.pk))
        result.append(
            SourceShares(source=source, contacts=assigned + unassigned, unassigned=unassigned, rows=shares)
        )
    return result


def unassigned_backlog(*, now: datetime) -> Backlog:
    """Contacts nobody could take: how many, the oldest one's time, and how many in the window; one query."""
    totals = Contact.objects.unassigned().aggregate(
        count=Count("pk"),
        oldest=Min("created_at"),
        in_window=Count("pk", filter=Q(created_at__gt=window_start(now))),
    )
    return Backlog(**totals)


def lead_page(*, query: str = "", page: str | int | None = 1) -> Page:
    """Leads newest first, searched over external id and name; rows are LeadRow; three queries.

    The count runs over the leads table alone; the contacts count and last contact time are computed
    for the page's leads only, in one grouped query over the (lead, created_at) index.
    """
    leads = Lead.objects.all()
    if len(query) >= 3:
        # A search matches few leads, found through the trigram indexes (PostgreSQL) and then sorted.
        # ORDER BY created_at DESC with a small LIMIT tempts the planner to walk the newest-first
        # index hoping to meet matches early, which reads every lead when there are few; NULLS LAST (a
        # no-op here, created_at is never null) is an order that index cannot give, so it is not tempted.
        leads = leads.filter(Q(external_id__icontains=query) | Q(name__icontains=query)).order_by(
            F("created_at").desc(nulls_last=True), "-id"
        )
    elif query:  # too short for trigrams: it matches many leads, and the newest-first index finds 50 soon
        leads = leads.filter(Q(external_id__icontains=query) | Q(name__icontains=query))
    result = Paginator(leads, PAGE_SIZE).get_page(page)
    on_page = list(result.object_list)
    stats = {}
    if on_page:
        per_lead = (
            Contact.objects.filter(lead_id__in=[lead.pk for lead in on_page])
            .order_by()
            .values_list("lead_id")
            .annotate(n=Count("pk"), last=Max("created_at"))
        )
        stats = {lead_id: (n, last) for lead_id, n, last in per_lead}
    result.object_list = [LeadRow(lead, *stats.get(lead.pk, (0, None))) for lead in on_page]
    return result


def lead_contacts_page(*, lead: Lead, page: str | int | None = 1) -> Page:
    """The lead's contacts, newest first, with source and operator; two queries (count, page)."""
    contacts = Contact.objects.filter(lead=lead).select_related("source", "operator")
    return Paginator(contacts, PAGE_SIZE).get_page(page)


def contact_page(
    *,
    source_id: int | None = None,
    operator_id: int | None = None,
    unassigned: bool = False,
    start: date | None = None,
    end: date | None = None,
    page: str | int | None = 1,
) -> Page:
    """Contacts newest first, filtered; `start` and `end` are inclusive days in the current time zone.

    Three queries: a count over the contacts table alone (select_related is dropped from counts), the
    page with its lead and operator joined, and the page's sources. The explanation is not needed in the
    list. Sources come in a query of their own: joined, the tiny sources table led SQLite's planner to
    sort every contact of a source instead of reading the newest 50 off the (source, created_at) index.
    """
    contacts = Contact.objects.select_related("lead", "operator").prefetch_related("source").defer("explanation")
    if source_id is not None:
        contacts = contacts.filter(source_id=source_id)
    if operator_id is not None:
        contacts = contacts.filter(operator_id=operator_id)
    if unassigned:
        contacts = contacts.unassigned()
    if start is not None:
        contacts = contacts.filter(created_at__gte=_start_of(start))
    if end is not None:
        contacts = contacts.filter(created_at__lt=_start_of(end + timedelta(days=1)))
    return Paginator(contacts, PAGE_SIZE).get_page(page)


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0
