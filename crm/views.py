"""Staff pages, read-only: what the router did. Each view parses the request, calls selectors, renders."""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from crm import selectors
from crm.forms import ContactFilterForm
from crm.models import Lead, Operator, Source


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the login page (and come back after it); signed-in non-staff users get 403."""

    @wraps(view)
    def staff_only(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("The staff pages are for staff users only.")
        return view(request, *args, **kwargs)

    return login_required(staff_only)


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()  # one moment for every number on the page
    loads = selectors.operator_loads(now=now)
    context = {
        "now": now,
        "window_hours": settings.LOAD_WINDOW_HOURS,
        "loads": loads,
        "shares": selectors.source_shares(now=now, operators=[row.operator for row in loads]),
        "backlog": selectors.unassigned_backlog(now=now),
    }
    return render(request, "crm/dashboard.html", context)


@staff_required
def lead_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    page = selectors.lead_page(query=query, page=request.GET.get("page"))
    return render(request, "crm/lead_list.html", {"q": query, "page_obj": page})


@staff_required
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead, pk=pk)
    page = selectors.lead_contacts_page(lead=lead, page=request.GET.get("page"))
    return render(request, "crm/lead_detail.html", {"lead": lead, "page_obj": page})


@staff_required
def contact_list(request: HttpRequest) -> HttpResponse:
    form = ContactFilterForm(
        request.GET, sources=list(Source.objects.only("name")), operators=list(Operator.objects.only("name"))
    )
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
    return render(request, "crm/contact_list.html", {"form": form, "page_obj": page})
