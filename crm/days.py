"""Days that people type into filters (the staff pages, the admin, the API): the range accepted everywhere,
and how a range of days becomes a range of moments in the current time zone."""

from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

# Days whose midnight, and the next one, exist in every time zone: date.min and date.max would overflow.
EARLIEST, LATEST = date(1, 1, 2), date(9999, 12, 30)


def start_of(day: date) -> datetime:
    """Midnight at the start of the day in the current time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def within_days(field: str, start: date | None = None, end: date | None = None) -> Q:
    """`field` (a moment) on one of the days from `start` to `end`, both included; either may be open."""
    within = Q()
    if start is not None:
        within &= Q(**{f"{field}__gte": start_of(start)})
    if end is not None:
        within &= Q(**{f"{field}__lt": start_of(end + timedelta(days=1))})
    return within
