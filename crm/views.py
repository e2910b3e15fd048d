"""Staff pages: what the router did, and an operator's own My work (reads only; assigning by hand and an
operator's presence are distribution.views').

Each view parses the request, calls selectors, renders.
"""

import csv
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import wraps

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache

from config.errors import json_error
from crm import selectors
from crm.choices import BACK_IN_MINUTES, CHOSEN_AWAY_REASONS
from crm.forms import (
    ChangeFilterForm,
    ContactFilterForm,
    DashboardForm,
    LeadFilterForm,
    ReportForm,
)
from crm.models import Contact, Lead, Operator, Source

ASSIGN_PERMISSION = "crm.assign_contact"


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the login page (and come back after it); signed-in non-staff users get 403."""

    @wraps(view)
    def staff_only(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied(_("The staff pages are for staff users only."))
        return view(request, *args, **kwargs)

    return login_required(staff_only)


def operator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """My work's pages: anonymous users go to the login page; a signed-in user whose account is linked to
    no operator gets a 403 page that says so. The view gets the operator as `operator`."""

    @wraps(view)
    def own_only(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        operator = selectors.operator_of(request.user)
        if operator is None:
            return render(request, "crm/not_an_operator.html", status=403)
        return view(request, *args, operator=operator, **kwargs)

    return login_required(own_only)


def operators_to_my_work(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The dashboard is the site's landing page ("/"): an operator's account that is not staff goes to My
    work there instead of a refusal."""

    @wraps(view)
    def landing(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if (
            request.user.is_authenticated
            and not request.user.is_staff
            and selectors.operator_of(request.user) is not None
        ):
            return redirect("my_work")
        return view(request, *args, **kwargs)

    return landing


def _choices() -> dict:
    """The filters' sources and operators: two small queries, so forms validate and render without more."""
    return {"sources": list(Source.objects.only("name")), "operators": list(Operator.objects.only("name"))}


def assign_context(request: HttpRequest, contacts: Iterable[Contact], *, inline: bool = True) -> dict:
    """What a page needs to offer hand assignment of these contacts: nothing at all without the permission.
    `inline`: a menu on every row, which leaves the other operators to the assign page when they are many."""
    if not request.user.has_perm(ASSIGN_PERMISSION):
        return {"can_assign": False}
    choices = selectors.assign_choices(
        now=timezone.now(), source_ids=[contact.source_id for contact in contacts], inline=inline
    )
    return {"can_assign": True, "assign_choices": choices, "here": request.get_full_path()}


@operators_to_my_work
@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()  # one moment for every number on the page
    form = DashboardForm(request.GET)
    form.is_valid()  # cleaned_data keeps the values that parse; the others are left out
    source_id = form.cleaned_data.get("op_source")
    board = selectors.dashboard_page(
        now=now,
        operator_query=form.cleaned_data.get("op_q") or "",
        operator_source=source_id,
        operator_page=request.GET.get("op_page"),
        source_query=form.cleaned_data.get("src_q") or "",
        source_page=request.GET.get("src_page"),
    )
    context = {
        "board": board,
        "operator_form": form,
        "operator_source": next((s.source for s in board.sources if s.source.pk == source_id), None),
        "now": now,
        "window_hours": settings.LOAD_WINDOW_HOURS,
        "max_age_hours": settings.UNASSIGNED_MAX_AGE_HOURS,
    }
    return render(request, "crm/dashboard.html", context)


@staff_required
def trends(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    return render(request, "crm/trends.html", {"now": now, "trends": selectors.trends(now=now)})


@staff_required
def lead_list(request: HttpRequest) -> HttpResponse:
    choices = _choices()
    form = LeadFilterForm(request.GET, **choices)
    page = None
    if form.is_valid():
        page = selectors.lead_page(
            query=form.cleaned_data["q"],
            source_id=form.cleaned_data["source"],
            operator_id=form.cleaned_data["operator"],
            waiting=form.cleaned_data["waiting"],
            page=request.GET.get("page"),
        )
    return render(
        request, "crm/lead_list.html", {"form": form, "page_obj": page, "q": form.data.get("q", "")}
    )


@staff_required
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead, pk=pk)
    page = selectors.lead_contacts_page(lead=lead, page=request.GET.get("page"))
    context = {"lead": lead, "page_obj": page, **assign_context(request, page)}
    return render(request, "crm/lead_detail.html", context)


@staff_required
def contact_list(request: HttpRequest) -> HttpResponse:
    choices = _choices()
    form = ContactFilterForm(request.GET, **choices)
    page = None
    if form.is_valid():
        page = selectors.contact_page(
            source_id=form.cleaned_data["source"],
            operator_id=form.cleaned_data["operator"],
            unassigned=form.cleaned_data["unassigned"],
            state=form.cleaned_data["state"],
            start=form.cleaned_data["from"],
            end=form.cleaned_data["to"],
            page=request.GET.get("page"),
        )
    context = {"form": form, "page_obj": page, **assign_context(request, page or [])}
    return render(request, "crm/contact_list.html", context)


@staff_required
def queue(request: HttpRequest) -> HttpResponse:
    """The waiting contacts, oldest first (the router's order), with how long each has waited."""
    page = selectors.queue_page(page=request.GET.get("page"))
    context = {
        "page_obj": page,
        "now": timezone.now(),
        "sources": list({contact.source_id: contact.source for contact in page}.values()),
        # The header's "Queue (N)" is this page's count: no second count (crm.context_processors).
        "queue_count": page.paginator.count,
        **assign_context(request, page, inline=False),
    }
    return render(request, "crm/queue.html", context)


@staff_required
def change_list(request: HttpRequest) -> HttpResponse:
    choices = _choices()
    form = ChangeFilterForm(request.GET, authors=selectors.change_authors(), **choices)
    page = None
    if form.is_valid():
        page = selectors.change_page(
            operator_id=form.cleaned_data["operator"],
            source_id=form.cleaned_data["source"],
            who=form.cleaned_data["who"],
            start=form.cleaned_data["from"],
            end=form.cleaned_data["to"],
            page=request.GET.get("page"),
        )
    names = {
        "operators": {op.pk: op.name for op in choices["operators"]},
        "sources": {source.pk: source.name for source in choices["sources"]},
    }
    return render(request, "crm/change_list.html", {"form": form, "page_obj": page, "names": names})


class LoginView(auth_views.LoginView):
    """Django's log in, after which an operator's account lands on My work and any other on the dashboard
    (LOGIN_REDIRECT_URL), unless the form's `next` names a page."""

    def get_default_redirect_url(self) -> str:
        if selectors.operator_of(self.request.user) is not None:
            return reverse("my_work")
        return super().get_default_redirect_url()


@operator_required
def my_work(request: HttpRequest, operator: Operator) -> HttpResponse:
    """The operator's own page: open contacts newest first, load, presence with its buttons, shift today;
    every time in the operator's own zone. Its script (static/js/my_work.js) polls my_work_poll."""
    now = timezone.now()
    work = selectors.my_work(operator=operator, now=now, page=request.GET.get("page"))
    context = {
        "work": work,
        "now": now,
        "my_operator": operator,  # the header's; no second query (crm.context_processors)
        "away_reasons": [(reason.value, reason.label) for reason in CHOSEN_AWAY_REASONS],
        "back_in_minutes": BACK_IN_MINUTES,
        "poll_seconds": settings.MY_WORK_POLL_SECONDS,
        "window_hours": settings.LOAD_WINDOW_HOURS,
    }
    with timezone.override(operator.timezone):
        return render(request, "crm/my_work.html", context)


@never_cache
@operator_required
def my_work_poll(request: HttpRequest, operator: Operator) -> HttpResponse:
    """What changed on My work since the page showed the contact `?after=<id>` (0: none shown): the new
    contacts' rows (from the page's own partial), how many, how many are open, the load and the presence.
    400 naming `after` when it is not a number or not one of the operator's contacts."""
    try:
        after = int(request.GET.get("after", ""))
    except ValueError:
        after = -1
    found = selectors.new_contacts(operator=operator, now=timezone.now(), after=after) if after >= 0 else None
    if found is None:
        return json_error(400, "after", _("Give the id of the newest contact shown, one of yours, or 0."))
    with timezone.override(operator.timezone):
        body = {
            "count": len(found.contacts),
            "more": found.more,
            "newest": found.contacts[0].pk if found.contacts else after,
            "open": found.open,
            "html": render_to_string("crm/_my_contacts.html", {"contacts": found.contacts}),
            "load": render_to_string("crm/_my_load.html", {"row": found.row}),
            "status": render_to_string("crm/_presence_status.html", {"operator": found.row.operator}),
            "shift": render_to_string(
                "crm/_shift_status.html", {"operator": found.row.operator, "on_shift": found.row.on_shift}
            )
            if found.row.operator.scheduled
            else "",
            "presence": found.row.operator.presence,
            "reason": found.row.operator.presence_reason,
            # For screen readers (the page's live region): the script has no words of its own to translate.
            "announce": ngettext("%(count)d new contact.", "%(count)d new contacts.", len(found.contacts))
            % {"count": len(found.contacts)},
        }
    return JsonResponse(body)


def back_url(request: HttpRequest, *, default: str) -> str:
    """The page to return to: the form's (or the link's) `next` when it is on this site, else `default`."""
    target = (request.POST if request.method == "POST" else request.GET).get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@staff_required
def reports(request: HttpRequest) -> HttpResponse:
    """Who answered and how fast over a range of days, per operator and per source, with CSV exports."""
    form = ReportForm(request.GET)
    days = form.period(timezone.localdate())
    report = None
    if days:
        report = selectors.report(
            start=days[0],
            end=days[1],
            operator_page=request.GET.get("op_page"),
            source_page=request.GET.get("src_page"),
        )
    return render(request, "crm/reports.html", {"form": form, "report": report})


@staff_required
def report_csv(request: HttpRequest, table: str) -> HttpResponse:
    """A report's table as CSV (operators, sources), or the contacts of its days, streamed row by row."""
    form = ReportForm(request.GET)
    days = form.period(timezone.localdate())
    if days is None:
        return render(request, "crm/reports.html", {"form": form, "report": None}, status=400)
    start, end = days
    if table == "contacts":
        rows = selectors.contact_rows(start=start, end=end)
        header = selectors.CONTACT_COLUMNS
    else:
        rows = (
            (owner.pk, owner.name, *figures(o))
            for owner, o in selectors.report_rows(table, start=start, end=end)
        )
        header = (f"{table[:-1]}_id", "name", *FIGURE_COLUMNS)
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="leadflow-{table}-{start}-{end}.csv"'
    return response


FIGURE_COLUMNS = (
    "assigned",
    "offered",
    "accepted",
    "declined",
    "expired",
    "closed",
    "accept_median_s",
    "accept_p90_s",
    "close_median_s",
    "close_p90_s",
)


def figures(o: selectors.Outcomes) -> tuple:
    times = (o.to_accept.get(0.5), o.to_accept.get(0.9), o.to_close.get(0.5), o.to_close.get(0.9))
    return (
        o.assigned,
        o.offered,
        o.accepted,
        o.declined,
        o.expired,
        o.closed,
        *("" if t is None else round(t, 1) for t in times),
    )


def csv_lines(header: Iterable, rows: Iterable[Iterable]) -> Iterator[str]:
    """CSV text one line at a time (a StreamingHttpResponse's body): moments in ISO 8601 with their offset."""

    class Line:
        def write(self, text: str) -> str:
            return text

    writer = csv.writer(Line())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([value.isoformat() if isinstance(value, datetime) else value for value in row])
