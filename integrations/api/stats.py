"""/api/v1/stats: the dashboard's numbers."""

from datetime import datetime

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_noop
from ninja import Field, Router, Schema

from crm import selectors
from integrations.api.common import errors
from integrations.api.sources import SourceFigures, WaitingOut, source_figures, waiting_figures


class OperatorStat(Schema):
    id: int
    name: str
    is_active: bool
    load: int
    load_limit: int
    load_percent: int = Field(
        description=gettext_noop("Load against the limit, 0–100 (the dashboard's bar; limit 0 is full).")
    )
    is_full: bool
    frees_at: datetime | None = Field(
        description=gettext_noop("For a full operator: when its next slot frees.")
    )
    share: float = Field(description=gettext_noop("Percent of all contacts assigned in the window."))


class SourceName(Schema):
    id: int
    name: str


class SourceStat(SourceFigures, SourceName):  # id and name first
    pass


class UnassignedStat(WaitingOut):
    max_age_hours: int


class StatsOut(Schema):
    at: datetime = Field(description=gettext_noop("The moment every number was taken at."))
    window_hours: int
    operators: list[OperatorStat]
    sources: list[SourceStat]
    unassigned: UnassignedStat


router = Router(tags=["stats"])


@router.get(
    "",
    response={200: StatsOut, **errors()},
    summary=gettext_noop("The dashboard's numbers"),
    description=gettext_noop(
        "Per operator load against limit; per source configured weight share against actual share in "
        "the load window; the queue of unassigned contacts. All taken at one moment (`at`), by the same code as "
        "the staff dashboard."
    ),
)
def get_stats(request: HttpRequest) -> dict:
    board = selectors.dashboard(now=timezone.now())
    assigned = sum(row.load for row in board.loads)
    return {
        "at": board.now,
        "window_hours": settings.LOAD_WINDOW_HOURS,
        "operators": [
            {
                "id": row.operator.pk,
                "name": row.operator.name,
                "is_active": row.operator.is_active,
                "load": row.load,
                "load_limit": row.operator.load_limit,
                "load_percent": row.percent,
                "is_full": row.is_full,
                "frees_at": row.frees_at,
                "share": round(100 * row.load / assigned, 1) if assigned else 0.0,
            }
            for row in board.loads
        ],
        "sources": [{"id": s.source.pk, "name": s.source.name, **source_figures(s)} for s in board.sources],
        "unassigned": {**waiting_figures(board.waiting), "max_age_hours": settings.UNASSIGNED_MAX_AGE_HOURS},
    }
