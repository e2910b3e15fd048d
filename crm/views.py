"""Staff pages: what the router did, and hand assignment for supervisors with the permission.

Each view parses the request, calls selectors (reads) or a service (the one write, assign_manually), renders.
"""

from collections.abc import Callable, Iterable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from crm import selectors
from crm.forms import (
    AssignForm,
    ChangeFilterForm,
    ContactFilterForm,
    DashboardForm,
    LeadFilterForm,
    QueueActionForm,
)
from crm.models import Contact, Lead, Operator, Source
from crm.templatetags.leadflow import outside_source_warning

# The staff pages are the outermost layer: they call the distribution service for a hand assignment, as
# the admin's contact actions do (crm's models and services never import distribution).
from distribution.manual import AssignmentRefused, assign_manually

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


def _assign_context(request: HttpRequest, contacts: Iterable[Contact], *, inline: bool = True) -> dict:
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
    context = {"lead": lead, "page_obj": page, **_assign_context(request, page)}
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
    context = {"form": form, "page_obj": page, **_assign_context(request, page or [])}
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
        **_assign_context(request, page, inline=False),
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


@require_http_methods(["GET", "POST"])
@staff_required
def contact_assign(request: HttpRequest, pk: int) -> HttpResponse:
    """A contact's assign page (GET), and giving it to the chosen operator or routing it again through the
    draw (POST); both need the permission.

    A refusal the supervisor may override (the operator is full or switched off) asks for a confirmation;
    any other refusal is explained on the page the supervisor came from. An operator from outside the
    contact's source is warned about (and recorded so in the explanation).
    """
    if not request.user.has_perm(ASSIGN_PERMISSION):
        raise PermissionDenied(_("Assigning contacts needs the “can assign contacts” permission."))
    contact = get_object_or_404(Contact.objects.select_related("lead", "source", "operator"), pk=pk)
    back = _back(request, default=reverse("lead_detail", args=[contact.lead_id]))
    if request.method == "GET":
        context = {"contact": contact, "back": back, **_assign_context(request, [contact], inline=False)}
        return render(request, "crm/contact_assign.html", context)
    form = AssignForm(request.POST)
    if not form.is_valid():
        for error in form.non_field_errors() + form.errors.get("operator", []):
            messages.error(request, error)
        return HttpResponseRedirect(back)
    operator = None if form.cleaned_data["route_again"] else form.cleaned_data["operator"]
    try:
        assigned = assign_manually(
            contact=contact,
            operator=operator,
            by=request.user.get_username(),
            override=form.cleaned_data["override"],
        )
    except AssignmentRefused as refusal:
        if operator is None:
            messages.error(request, str(refusal))
            return HttpResponseRedirect(back)
        context = {"contact": contact, "operator": operator, "refusal": refusal, "back": back}
        return render(request, "crm/assign_confirm.html", context, status=409)
    messages.success(
        request,
        _("Contact of %(lead)s is now with %(operator)s.")
        % {"lead": contact.lead, "operator": assigned.operator},
    )
    if assigned.explanation.get("outside_source"):
        messages.warning(request, outside_source_warning(assigned.operator.name, source=contact.source.name))
    return HttpResponseRedirect(back)


@require_POST
@staff_required
def queue_assign(request: HttpRequest) -> HttpResponse:
    """The queue page's bulk actions (POST, with permission), oldest contact first as the router goes: route
    the ticked contacts again through the draw, or give them all to one operator. Contacts given an
    operator meanwhile are left as they are; refusals and assignments outside a source are reported."""
    if not request.user.has_perm(ASSIGN_PERMISSION):
        raise PermissionDenied(_("Assigning contacts needs the “can assign contacts” permission."))
    back = _back(request, default=reverse("queue"))
    form = QueueActionForm(request.POST)
    if not form.is_valid():
        for error in form.non_field_errors() + form.errors.get("operator", []):
            messages.error(request, error)
        return HttpResponseRedirect(back)
    ids = form.cleaned_data["ids"]
    waiting = list(Contact.objects.unassigned().filter(pk__in=ids).order_by("created_at", "id"))
    operator = form.cleaned_data["operator"] if form.cleaned_data["action"] == form.ASSIGN else None
    done, outside, refusals = 0, 0, []
    for contact in waiting:
        try:
            result = assign_manually(
                contact=contact,
                operator=operator,
                by=request.user.get_username(),
                override=form.cleaned_data["override"],
            )
        except AssignmentRefused as refusal:
            refusals.append(str(refusal))
            continue
        done += 1
        outside += bool(result.explanation.get("outside_source"))
    _report_bulk(request, operator=operator, done=done, outside=outside, refusals=refusals)
    if gone := len(set(ids)) - len(waiting):
        messages.info(
            request,
            ngettext(
                "%(count)d contact had an operator already and was left as it is.",
                "%(count)d contacts had an operator already and were left as they are.",
                gone,
            )
            % {"count": gone},
        )
    return HttpResponseRedirect(back)


def _report_bulk(
    request: HttpRequest, *, operator: Operator | None, done: int, outside: int, refusals: list[str]
) -> None:
    """The bulk action's outcome as messages: done, outside a source, refused (with the first reason)."""
    if operator is None:
        if done:
            routed = ngettext("%(count)d contact routed again.", "%(count)d contacts routed again.", done)
            messages.success(request, routed % {"count": done})
        if refusals:
            still = ngettext(
                "%(count)d contact still waits: nobody can take it now.",
                "%(count)d contacts still wait: nobody can take them now.",
                len(refusals),
            )
            messages.warning(request, still % {"count": len(refusals)})
        return
    if done:
        assigned = ngettext(
            "%(count)d contact assigned to %(operator)s.",
            "%(count)d contacts assigned to %(operator)s.",
            done,
        )
        messages.success(request, assigned % {"count": done, "operator": operator})
    if outside:
        messages.warning(request, outside_source_warning(operator.name, count=outside))
    if refusals:
        not_assigned = ngettext(
            "%(count)d not assigned: %(reason)s", "%(count)d not assigned: %(reason)s", len(refusals)
        )
        messages.warning(request, not_assigned % {"count": len(refusals), "reason": refusals[0]})


class LogoutView(auth_views.LogoutView):
    """Django's log out (a POST), after which the login page says it happened."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        # Added after the session is flushed: the message travels in its cookie (the default storage).
        messages.info(request, _("You are logged out."))
        return response


def _back(request: HttpRequest, *, default: str) -> str:
    """The page to return to: the form's (or the link's) `next` when it is on this site, else `default`."""
    target = (request.POST if request.method == "POST" else request.GET).get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
