"""My work: an operator's own page (their open contacts, load, presence and shift today) and its poll.

Every read here is about one operator, the one signed in: nothing in this module reads another operator's
contacts. A fixed number of queries whatever the number of contacts.
"""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet

from crm import shifts
from crm.models import OPEN_STATES, Contact, Operator
from crm.selectors.loads import OPERATOR_ROW, PAGE_SIZE, OperatorLoad, freeing_times


def operator_of(user) -> Operator | None:
    """The operator a signed-in user is linked to (Operator.user), or None; one query, none when anonymous."""
    if not user.is_authenticated:
        return None
    return Operator.objects.filter(user_id=user.pk).first()


def open_contacts(*, operator_id: int, now: datetime) -> QuerySet[Contact]:
    """The operator's open contacts, newest given first (by assignment time, so a contact that waited in
    the queue and was routed just now is new too), with lead and source.

    The one definition of "open": offered to the operator, accepted or assigned, and not closed yet
    (crm.models.OPEN_STATES), however long ago; one range of a partial index over the open ones.
    """
    return (
        Contact.objects.filter(operator_id=operator_id, state__in=OPEN_STATES)
        .select_related("lead", "source")
        .defer("explanation", "request_hash", "idempotency_key")
        .order_by("-assigned_at", "-id")
    )


def my_load(*, operator_id: int, now: datetime) -> OperatorLoad:
    """The operator's load against the limit, state now and when the next slot frees (when full): one query,
    two when full."""
    operator = Operator.objects.with_load(now).only(*OPERATOR_ROW).get(pk=operator_id)
    frees_at = freeing_times(now=now, operators=[operator]).get(operator.pk)
    return OperatorLoad.of(operator, now=now, frees_at=frees_at)


def shift_today(*, operator: Operator, now: datetime) -> shifts.Day:
    """The operator's schedule for their own date today (in their time zone); two queries."""
    weekly, exceptions = shifts.schedule_of(operator)
    today = now.astimezone(ZoneInfo(operator.timezone)).date()
    return shifts.day_of(weekly=weekly, exceptions=exceptions, on=today)


@dataclass(frozen=True)
class MyWork:
    row: OperatorLoad  # the operator (presence, shift) with its load, as the dashboard shows it
    contacts: Page  # open contacts, PAGE_SIZE a page
    today: shifts.Day
    newest_id: int  # the newest open contact's id (0: none), where the page's poll starts


def my_work(*, operator: Operator, now: datetime, page: str | int | None = 1) -> MyWork:
    """The My work page: at most seven queries (the load, when full when a slot frees, the count and the page
    of open contacts, the schedule's two)."""
    row = my_load(operator_id=operator.pk, now=now)
    contacts = Paginator(open_contacts(operator_id=operator.pk, now=now), PAGE_SIZE).get_page(page)
    newest = contacts[0].pk if contacts.number == 1 and contacts.object_list else 0
    return MyWork(
        row=row, contacts=contacts, today=shift_today(operator=row.operator, now=now), newest_id=newest
    )


@dataclass(frozen=True)
class NewContacts:
    contacts: list[Contact]  # newest first, at most PAGE_SIZE
    more: bool  # more than PAGE_SIZE arrived: the page is better reloaded than patched
    open: int  # how many are open now
    row: OperatorLoad


def new_contacts(*, operator: Operator, now: datetime, after: int) -> NewContacts | None:
    """The operator's open contacts given to them after their contact `after` was (0: all of them), for the
    poll; None when `after` is not one of the operator's contacts (another's, or taken from them since).
    At most six queries."""
    newer = open_contacts(operator_id=operator.pk, now=now)
    if after:
        since = Contact.objects.filter(pk=after, operator_id=operator.pk).values("assigned_at").first()
        if since is None:
            return None
        at = since["assigned_at"]
        newer = newer.filter(Q(assigned_at__gt=at) | Q(assigned_at=at, pk__gt=after))
    found = list(newer[: PAGE_SIZE + 1])
    return NewContacts(
        contacts=found[:PAGE_SIZE],
        more=len(found) > PAGE_SIZE,
        open=open_contacts(operator_id=operator.pk, now=now).count(),
        row=my_load(operator_id=operator.pk, now=now),
    )
