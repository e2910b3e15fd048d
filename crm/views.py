"""Staff pages: what the router did (reads only; assigning by hand is distribution.views').

Each view parses the request, calls selectors, renders.
"""

from collections.abc import Callable, Iterable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from crm import selectors
from crm.forms import (
    ChangeFilterForm,
    ContactFilterForm,
    DashboardForm,
    LeadFilterForm,
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


class LogoutView(auth_views.LogoutView):
    """Django's log out (a POST), after which the login page says it happened."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        # Added after the session is flushed: the message travels in its cookie (the default storage).
        messages.info(request, _("You are logged out."))
        return response


def back_url(request: HttpRequest, *, default: str) -> str:
    """The page to return to: the form's (or the link's) `next` when it is on this site, else `default`."""
    target = (request.POST if request.method == "POST" else request.GET).get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
