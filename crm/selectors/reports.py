"""The reports page and its CSV files: who answered and how fast over a range of days, per operator and per
source (crm.selectors.outcomes), and the contacts of those days, streamed.

The page runs a fixed number of queries over the period's rows through the indexes on the moments they
count (assigned_at, offered_at, ended_at, closed_at); the contacts' CSV reads them in keyset pages, so a
million contacts export in the memory of one page.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Q

from crm.days import start_of
from crm.models import Contact, Operator, Source
from crm.selectors.outcomes import Outcomes, outcomes, total

# Contacts read per query while streaming the CSV: memory is one batch, whatever the range.
CSV_BATCH = 2000


@dataclass(frozen=True)
class Report:
    start: date
    end: date  # included
    since: datetime
    until: datetime
    operators: list[tuple[Operator, Outcomes]]  # those with anything in the period, by name
    sources: list[tuple[Source, Outcomes]]  # every source, by name
    totals: Outcomes


def period(start: date, end: date) -> tuple[datetime, datetime]:
    """The days from `start` to `end`, both included, as moments [since, until) in the current time zone."""
    return start_of(start), start_of(end + timedelta(days=1))


def report(*, start: date, end: date) -> Report:
    """The figures per operator and per source for the days; 14 queries."""
    since, until = period(start, end)
    by_operator = outcomes(by="operator", since=since, until=until)
    by_source = outcomes(by="source", since=since, until=until)
    operators = Operator.objects.filter(pk__in=list(by_operator)).only("name")
    return Report(
        start=start,
        end=end,
        since=since,
        until=until,
        operators=[(op, by_operator[op.pk]) for op in operators],
        sources=[(source, by_source.get(source.pk, Outcomes())) for source in Source.objects.only("name")],
        totals=total(by_source.values()),
    )


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
