"""The Changes page: what changed in operators, sources and weights, who changed it, and when."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db.models import (
    CharField,
    OuterRef,
    Q,
    Subquery,
    Value,
)

from crm.days import within_days
from crm.history import FieldChange, author, field_changes, related_values
from crm.models import Operator, Source, SourceOperatorWeight
from crm.selectors.loads import PAGE_SIZE


@dataclass(frozen=True)
class Change:
    kind: str  # "operator", "source" or "weight"
    at: datetime
    user: str  # who made it: a user name, "api:<key name>" for the API, "" for a command
    action: str  # "+" created, "~" changed, "-" deleted (simple-history's history_type)
    operator_id: int | None
    source_id: int | None
    fields: list[FieldChange]


def _history_models() -> dict[str, type]:
    return {
        "operator": Operator.history.model,
        "source": Source.history.model,
        "weight": SourceOperatorWeight.history.model,
    }


API_AUTHOR = "api:"  # how a change through the API names its key (integrations.services.name_the_api_key)


def change_authors() -> list[str]:
    """Who made the recorded changes: user names, and "api:<key name>" for changes through the API; two
    queries over the three history tables."""
    tables = _history_models().values()
    made_by = Q()
    for table in tables:
        made_by |= Q(pk__in=table.objects.filter(history_user__isnull=False).values("history_user_id"))
    users = get_user_model().objects.filter(made_by)
    reasons = [
        table.objects.filter(history_user__isnull=True, history_change_reason__startswith=API_AUTHOR)
        .order_by()
        .values_list("history_change_reason", flat=True)
        for table in tables
    ]
    keys = set(reasons[0].union(*reasons[1:]))
    return sorted(users.values_list("username", flat=True)) + sorted(keys)


def change_page(
    *,
    operator_id: int | None = None,
    source_id: int | None = None,
    who: str = "",
    start: date | None = None,
    end: date | None = None,
    page: str | int | None = 1,
) -> Page:
    """Changes to operators, sources and weights, newest first, optionally about one operator and/or one
    source (both: the weights between them), made by `who` (a user name, or "api:<key name>"), between the
    days `start` and `end` (inclusive, in the current time zone); rows are Change. At most eight queries: a
    count and a page of (kind, id, time) over the three history tables together, then per kind on the page
    its records with their users and the records just before them (to tell old from new values).
    """
    tables = _history_models()
    common = Q()
    if who.startswith(API_AUTHOR):
        common &= Q(history_user__isnull=True, history_change_reason=who)
    elif who:
        common &= Q(history_user__username=who)
    common &= within_days("history_date", start, end)
    parts = {
        "operator": tables["operator"].objects.filter(common, **({"id": operator_id} if operator_id else {})),
        "source": tables["source"].objects.filter(common, **({"id": source_id} if source_id else {})),
        "weight": tables["weight"].objects.filter(
            common,
            **({"operator_id": operator_id} if operator_id else {}),
            **({"source_id": source_id} if source_id else {}),
        ),
    }
    if source_id:  # an operator's own changes are not about any one source, and the other way round
        parts.pop("operator")
    if operator_id:
        parts.pop("source")
    keyed = [
        qs.order_by()
        .annotate(kind=Value(kind, output_field=CharField()))
        .values_list("kind", "history_id", "history_date")
        for kind, qs in parts.items()
    ]
    combined = keyed[0].union(*keyed[1:], all=True).order_by("-history_date", "-history_id")
    result = Paginator(combined, PAGE_SIZE).get_page(page)
    on_page = list(result.object_list)
    wanted: dict[str, list[int]] = defaultdict(list)
    for kind, history_id, _ in on_page:
        wanted[kind].append(history_id)
    records: dict[tuple[str, int], Change] = {}
    for kind, ids in wanted.items():
        for change in _changes(tables[kind], kind, ids):
            records[kind, change[0]] = change[1]
    result.object_list = [records[kind, history_id] for kind, history_id, _ in on_page]
    return result


def _changes(table: type, kind: str, history_ids: list[int]) -> list[tuple[int, Change]]:
    """The records with these ids as Change rows: two queries (the records with users, their predecessors),
    and one for each of the kind's skill lists (crm.history.TRACKED_RELATED)."""
    before = table.objects.filter(id=OuterRef("id"), history_id__lt=OuterRef("history_id")).order_by(
        "-history_id"
    )
    rows = list(
        table.objects.filter(history_id__in=history_ids)
        .select_related("history_user")
        .annotate(previous_id=Subquery(before.values("history_id")[:1]))
    )
    previous = table.objects.in_bulk(
        [row.previous_id for row in rows if row.previous_id], field_name="history_id"
    )
    related = related_values(kind, table, [*(row.history_id for row in rows), *previous])
    changes = []
    for row in rows:
        fields = field_changes(kind, row, previous.get(row.previous_id), related)
        changes.append(
            (
                row.history_id,
                Change(
                    kind=kind,
                    at=row.history_date,
                    user=author(row),
                    action=row.history_type,
                    operator_id=row.id if kind == "operator" else getattr(row, "operator_id", None),
                    source_id=row.id if kind == "source" else getattr(row, "source_id", None),
                    fields=fields,
                ),
            )
        )
    return changes
