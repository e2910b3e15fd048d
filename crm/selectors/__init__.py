"""Reads for the staff pages, one module per page: each function runs a fixed number of queries, whatever
the number of rows. Pages stay cheap on big tables: a page counts one plain (join-free) filtered table,
fetches its 50 rows, and computes per-row aggregates for those rows only. What the pages call is named here.
"""

from crm.selectors.assign import INLINE_OTHERS_MAX, AssignChoices, assign_choices
from crm.selectors.changes import Change, change_authors, change_page
from crm.selectors.charts import Bucket, LoadLine, arrivals, load_lines, trends
from crm.selectors.dashboard import (
    OPERATORS_PER_PAGE,
    SOURCES_PER_PAGE,
    DashboardPage,
    SourceSummary,
    dashboard_page,
    source_summaries,
)
from crm.selectors.lists import (
    SEARCHED_LEADS_ORDER,
    CappedPaginator,
    LeadRow,
    contact_page,
    lead_contacts_page,
    lead_page,
    queue_page,
)
from crm.selectors.loads import PAGE_SIZE, OperatorLoad, Waiting, operator_loads, waiting_by_source
from crm.selectors.my_work import (
    MyWork,
    NewContacts,
    my_load,
    my_work,
    new_contacts,
    open_contacts,
    operator_of,
    shift_today,
)
from crm.selectors.outcomes import Outcomes, outcomes
from crm.selectors.overview import Dashboard, SourceOverview, dashboard, source_overview, source_overviews
from crm.selectors.reports import (
    CONTACT_COLUMNS,
    REPORT_ROWS_PER_PAGE,
    Report,
    contact_rows,
    report,
    report_rows,
)

__all__ = [
    "CONTACT_COLUMNS",
    "Outcomes",
    "Report",
    "contact_rows",
    "outcomes",
    "report",
    "report_rows",
    "REPORT_ROWS_PER_PAGE",
    "INLINE_OTHERS_MAX",
    "OPERATORS_PER_PAGE",
    "SOURCES_PER_PAGE",
    "PAGE_SIZE",
    "SEARCHED_LEADS_ORDER",
    "AssignChoices",
    "Bucket",
    "CappedPaginator",
    "Change",
    "Dashboard",
    "DashboardPage",
    "LeadRow",
    "LoadLine",
    "MyWork",
    "NewContacts",
    "OperatorLoad",
    "SourceOverview",
    "SourceSummary",
    "Waiting",
    "arrivals",
    "assign_choices",
    "change_authors",
    "change_page",
    "contact_page",
    "dashboard",
    "dashboard_page",
    "lead_contacts_page",
    "lead_page",
    "load_lines",
    "my_load",
    "my_work",
    "new_contacts",
    "open_contacts",
    "operator_of",
    "operator_loads",
    "queue_page",
    "shift_today",
    "source_overview",
    "source_overviews",
    "source_summaries",
    "trends",
    "waiting_by_source",
]
