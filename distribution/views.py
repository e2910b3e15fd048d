"""Staff pages that assign by hand (supervisors with the permission): one contact, or the queue's ticked ones.

Each view parses the request, calls distribution.manual.assign_manually per contact, and says what happened.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from crm.models import Contact, Operator
from crm.templatetags.leadflow import outside_source_warning
from crm.views import ASSIGN_PERMISSION, assign_context, back_url, staff_required
from distribution.forms import AssignForm, QueueActionForm
from distribution.manual import AssignmentRefused, Bulk, assign_each, assign_manually


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
    back = back_url(request, default=reverse("lead_detail", args=[contact.lead_id]))
    if request.method == "GET":
        context = {"contact": contact, "back": back, **assign_context(request, [contact], inline=False)}
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
    back = back_url(request, default=reverse("queue"))
    form = QueueActionForm(request.POST)
    if not form.is_valid():
        for error in form.non_field_errors() + form.errors.get("operator", []):
            messages.error(request, error)
        return HttpResponseRedirect(back)
    ids = form.cleaned_data["ids"]
    waiting = list(Contact.objects.unassigned().filter(pk__in=ids))
    operator = form.cleaned_data["operator"] if form.cleaned_data["action"] == form.ASSIGN else None
    bulk = assign_each(
        contacts=waiting,
        operator=operator,
        by=request.user.get_username(),
        override=form.cleaned_data["override"],
        only_if_waiting=True,
    )
    bulk.gone += len(set(ids)) - len(waiting)
    report_bulk(request, operator=operator, bulk=bulk)
    return HttpResponseRedirect(back)


def report_bulk(request: HttpRequest, *, operator: Operator | None, bulk: Bulk) -> None:
    """A hand assignment of several contacts, as messages (the queue page and the admin's actions): done,
    outside a source, refused (with the first reason), left alone because someone took them meanwhile."""
    if operator is None:
        if bulk.done:
            routed = ngettext(
                "%(count)d contact routed again.", "%(count)d contacts routed again.", bulk.done
            )
            messages.success(request, routed % {"count": bulk.done})
        if bulk.refusals:
            stay = ngettext(
                "%(count)d contact stays as it was: nobody else can take it now.",
                "%(count)d contacts stay as they were: nobody else can take them now.",
                len(bulk.refusals),
            )
            messages.warning(request, stay % {"count": len(bulk.refusals)})
    else:
        if bulk.done:
            assigned = ngettext(
                "%(count)d contact assigned to %(operator)s.",
                "%(count)d contacts assigned to %(operator)s.",
                bulk.done,
            )
            messages.success(request, assigned % {"count": bulk.done, "operator": operator})
        if bulk.outside:
            messages.warning(request, outside_source_warning(operator.name, count=bulk.outside))
        if bulk.refusals:
            not_assigned = ngettext(
                "%(count)d not assigned: %(reason)s", "%(count)d not assigned: %(reason)s", len(bulk.refusals)
            )
            messages.warning(
                request, not_assigned % {"count": len(bulk.refusals), "reason": bulk.refusals[0]}
            )
    if bulk.gone:
        left = ngettext(
            "%(count)d contact had an operator already and was left as it is.",
            "%(count)d contacts had an operator already and were left as they are.",
            bulk.gone,
        )
        messages.info(request, left % {"count": bulk.gone})
