"""The reports page and its CSV files: who answered and how fast over a range of days, per operator and per
source (crm.selectors.outcomes), and the contacts of those days, streamed.

The page shows 50 operators and 50 sources at a time and runs a fixed number of queries over the period's
rows of those alone, through the indexes on the moments they count (assigned_at, offered_at, ended_at,
closed_at); the tables' CSV files have every row; the contacts' CSV reads them in keyset pages, so a million
contacts export in the memory of one page.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import Q

from crm.days import start_of
from crm.models import Contact, Operator, Source
from crm.selectors.outcomes import Outcomes, outcomes

# Contacts read per query while streaming the CSV: memory is one batch, whatever the range.
CSV_BATCH = 2000


# Rows of each table per page: at 6,000 operators and 300 sources the page was 4 MB and over a second.
REPORT_ROWS_PER_PAGE = 50


@dataclass(frozen=True)
class Report:
    start: date
    end: date  # included
    since: datetime
    until: datetime
    operators: Page  # of (Operator, Outcomes): every operator by name, a page of them
    sources: Page  # of (Source, Outcomes): every source by name, a page of them


def period(start: date, end: date) -> tuple[datetime, datetime]:
    """The days from `start` to `end`, both included, as moments [since, until) in the current time zone."""
    return start_of(start), start_of(end + timedelta(days=1))


def report(
    *, start: date, end: date, operator_page: str | int | None = 1, source_page: str | int | None = 1
) -> Report:
    """The figures for the days of a page of operators and a page of sources (those with nothing in the
    period too: a zero is an answer); 14 queries, each over the page's operators or sources only."""
    since, until = period(start, end)
    return Report(
        start=start,
        end=end,
        since=since,
        until=until,
        operators=_paged(Operator, "operator", since, until, operator_page),
        sources=_paged(Source, "source", since, until, source_page),
    )


def _paged(
    model: type[Operator | Source], by: str, since: datetime, until: datetime, number: str | int | None
) -> Page:
    """A page of the operators or sources by name, each with its figures (zeros when it had nothing)."""
    owners = model.objects.only("name").order_by("name", "pk")
    page = Paginator(owners, REPORT_ROWS_PER_PAGE).get_page(number)
    found = outcomes(by=by, since=since, until=until, ids=[owner.pk for owner in page])
    page.object_list = [(owner, found.get(owner.pk, Outcomes())) for owner in page]
    return page


def report_rows(table: str, *, start: date, end: date) -> Iterator[tuple[Operator | Source, Outcomes]]:
    """Every operator's or source's figures for the days, by name: the report's table as a CSV file."""
    since, until = period(start, end)
    model, by = (Operator, "operator") if table == "operators" else (Source, "source")
    found = outcomes(by=by, since=since, until=until)
    for owner in model.objects.only("name").order_by("name", "pk").iterator(chunk_size=2000):
        yield owner, found.get(owner.pk, Outcomes())


CONTACT_COLUMNS = (
    "id",
    "created_at",
    "external_id",
    "lead_name",
    "source",
    "operator",
    "state",
    "unassigned_reason",
    "assigned_at",
    "accepted_at",
    "closed_at",
    "outcome",
)


def contact_rows(*, start: date, end: date, batch: int | None = None) -> Iterator[tuple]:
    """The contacts that arrived on those days, oldest first, as CONTACT_COLUMNS; read `batch` at a time by
    keyset (created_at, id), each batch a query of its own (no server-side cursor, which a pooler in
    transaction mode would break, and no snapshot held for the whole export)."""
    batch = batch or CSV_BATCH
    since, until = period(start, end)
    contacts = (
        Contact.objects.filter(created_at__gte=since, created_at__lt=until)
        .order_by("created_at", "id")
        .values_list(
            "id",
            "created_at",
            "lead__external_id",
            "lead__name",
            "source__name",
            "operator__name",
            "state",
            "unassigned_reason",
            "assigned_at",
            "accepted_at",
            "closed_at",
            "outcome",
        )
    )
    after = None
    while True:
        page = contacts
        if after is not None:
            page = page.filter(Q(created_at__gt=after[1]) | Q(created_at=after[1], id__gt=after[0]))
        rows = list(page[:batch])
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1]
