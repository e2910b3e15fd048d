"""The staff lists: leads, a lead's contacts, contacts, the waiting queue; each a fixed number of queries."""

from dataclasses import dataclass
from datetime import date, datetime

from django.core.paginator import Page, Paginator
from django.db.models import (
    Count,
    F,
    Max,
    Prefetch,
    Q,
    QuerySet,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils.functional import cached_property

from crm.days import within_days
from crm.models import Contact, Lead, Offer
from crm.selectors.loads import PAGE_SIZE


@dataclass(frozen=True)
class LeadRow:
    lead: Lead
    contacts: int
    last_contact_at: datetime | None
    latest: Contact | None = None  # the lead's latest contact, with source and operator


SEARCHED_LEADS_ORDER = (F("created_at").desc(nulls_last=True), F("id").desc())


def lead_page(
    *,
    query: str = "",
    source_id: int | None = None,
    operator_id: int | None = None,
    waiting: bool = False,
    page: str | int | None = 1,
) -> Page:
    """Leads newest first, searched over external id and name and filtered by the contacts they have (from
    a source, handled by an operator, waiting); rows are LeadRow with the lead's latest contact. Four queries.

    The count runs over the leads table (with a semi-join for a filter); the contacts count, the last
    contact time and the latest contact are computed for the page's leads only.
    """
    leads = Lead.objects.all()
    if len(query) >= 3:
        leads = leads.filter(Q(external_id__icontains=query) | Q(name__icontains=query)).order_by(
            *SEARCHED_LEADS_ORDER
        )
    elif query:  # too short for trigrams: it matches many leads, and the newest-first index finds 50 soon
        leads = leads.filter(Q(external_id__icontains=query) | Q(name__icontains=query))
    if source_id is not None:
        leads = leads.through_source(source_id)
    if operator_id is not None:
        leads = leads.handled_by(operator_id)
    if waiting:
        leads = leads.waiting()
    # Counting every match of a broad search or filter costs more than the rest of the page (a third of
    # a million leads at 1M contacts): those counts stop at a cap; the plain list's count stays exact.
    narrowed = bool(query) or source_id is not None or operator_id is not None or waiting
    result = (CappedPaginator if narrowed else Paginator)(leads, PAGE_SIZE).get_page(page)
    on_page = list(result.object_list)
    stats, latest = {}, {}
    if on_page:
        ids = [lead.pk for lead in on_page]
        per_lead = (
            Contact.objects.filter(lead_id__in=ids)
            .order_by()
            .values_list("lead_id")
            .annotate(n=Count("pk"), last=Max("created_at"))
        )
        stats = {lead_id: (n, last) for lead_id, n, last in per_lead}
        latest = {contact.lead_id: contact for contact in _latest_contacts(ids)}
    result.object_list = [
        LeadRow(lead, *stats.get(lead.pk, (0, None)), latest=latest.get(lead.pk)) for lead in on_page
    ]
    return result


class CappedPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows: an exact count of "leads with a contact from this source" reads
    every such contact (hundreds of milliseconds at a million), while a capped one stops early. Pages
    past the cap are not offered; the page says "more than" (see `capped`)."""

    COUNT_CAP = 1_000  # 20 pages: past that, a supervisor narrows the filter rather than pages on

    @cached_property
    def _counted(self) -> int:
        return self.object_list.order_by()[: self.COUNT_CAP + 1].count()

    @property
    def count(self) -> int:
        return min(self._counted, self.COUNT_CAP)

    @property
    def capped(self) -> bool:
        return self._counted > self.COUNT_CAP


def _latest_contacts(lead_ids: list[int]) -> QuerySet[Contact]:
    """Each lead's newest contact, with its source and operator: one query over the (lead, created_at) index."""
    newest_first = [F("created_at").desc(), F("id").desc()]
    return (
        Contact.objects.filter(lead_id__in=lead_ids)
        .annotate(rank=Window(RowNumber(), partition_by=[F("lead_id")], order_by=newest_first))
        .filter(rank=1)
        .select_related("source", "operator")
        .defer("explanation", "request_hash", "idempotency_key")
        .order_by()
    )


def lead_contacts_page(*, lead: Lead, page: str | int | None = 1) -> Page:
    """The lead's contacts, newest first, with source and operator, and each one's offers in order with
    their operators; three queries (count, page, offers)."""
    offers = Offer.objects.select_related("operator").order_by("id")
    contacts = (
        Contact.objects.filter(lead=lead)
        .select_related("source", "operator")
        .prefetch_related(Prefetch("offers", queryset=offers))
    )
    return Paginator(contacts, PAGE_SIZE).get_page(page)


def contact_page(
    *,
    source_id: int | None = None,
    operator_id: int | None = None,
    unassigned: bool = False,
    state: str = "",
    start: date | None = None,
    end: date | None = None,
    page: str | int | None = 1,
) -> Page:
    """Contacts newest first, filtered; `start` and `end` are inclusive days in the current time zone.

    Three queries: a count over the contacts table alone (select_related is dropped from counts), the
    page with its lead and operator joined, and the page's sources. The explanation is read for its
    path and author only. Sources come in a query of their own: joined, the tiny sources table led
    SQLite's planner to sort every contact of a source instead of reading the newest 50 off the
    (source, created_at) index.
    """
    contacts = Contact.objects.select_related("lead", "operator").prefetch_related("source")
    if source_id is not None:
        contacts = contacts.filter(source_id=source_id)
    if operator_id is not None:
        contacts = contacts.filter(operator_id=operator_id)
    if unassigned:
        contacts = contacts.unassigned()
    if state:
        contacts = contacts.filter(state=state)
    contacts = contacts.filter(within_days("created_at", start, end))
    # As for leads: a filter's count stops at a cap (every contact of a busy source is most of the table).
    narrowed = unassigned or bool(state) or any(v is not None for v in (source_id, operator_id, start, end))
    return (CappedPaginator if narrowed else Paginator)(contacts, PAGE_SIZE).get_page(page)


def queue_page(*, page: str | int | None = 1) -> Page:
    """The waiting contacts (no operator) oldest first, the order the router takes them in, with lead and
    source; three queries (count and page over the partial index of waiting contacts, the page's sources)."""
    waiting = (
        Contact.objects.unassigned()
        .order_by("created_at", "id")
        .select_related("lead")
        .prefetch_related("source")
        .defer("explanation", "request_hash", "idempotency_key")
    )
    return Paginator(waiting, PAGE_SIZE).get_page(page)
