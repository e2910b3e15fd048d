"""Pages that write: staff assigning by hand (supervisors with the permission: one contact, or the queue's
ticked ones), and an operator's own presence (My work's buttons, and going offline when logging out).

Each view parses the request, calls a service (distribution.manual, distribution.capacity), and says what
happened.
"""

import logging

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from crm.choices import Presence
from crm.models import Contact, Operator
from crm.selectors import operator_of
from crm.templatetags.leadflow import outside_source_warning, when
from crm.views import ASSIGN_PERMISSION, assign_context, back_url, operator_required, staff_required
from distribution import capacity, offers
from distribution.forms import AssignForm, PresenceForm, QueueActionForm
from distribution.manual import AssignmentRefused, Bulk, assign_each, assign_manually

log = logging.getLogger("leadflow.distribution")


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


@require_POST
@operator_required
def my_presence(request: HttpRequest, operator: Operator) -> HttpResponse:
    """My work's presence buttons: the operator's own presence through capacity.update_operator (so the
    change history names the signed-in user, and becoming available routes waiting contacts), then back to
    My work with what it did or why not."""
    now = timezone.now()
    form = PresenceForm(request.POST, zone=operator.timezone, now=now)
    with timezone.override(operator.timezone):  # a return time in a message reads in the operator's zone
        if not form.is_valid():
            for error in form.non_field_errors() or [_("Choose one of the presence buttons.")]:
                messages.error(request, error)
            return HttpResponseRedirect(reverse("my_work"))
        try:
            capacity.update_operator(operator=operator, now=now, **form.cleaned_data["changes"])
        except ValidationError as refused:
            messages.error(request, " ".join(refused.messages))
        else:
            messages.success(request, presence_sentence(operator))
    return HttpResponseRedirect(reverse("my_work"))


def presence_sentence(operator: Operator) -> str:
    """The operator's presence as a sentence to them, in the current time zone."""
    if operator.presence == Presence.AVAILABLE:
        return _("You are available: new contacts can come to you.")
    if operator.presence == Presence.OFFLINE:
        return _("You are offline: no new contacts come to you.")
    reason = operator.get_presence_reason_display()
    if operator.presence_until:
        return _("You are away (%(reason)s) until %(at)s.") % {
            "reason": reason,
            "at": when(operator.presence_until),
        }
    return _("You are away (%(reason)s).") % {"reason": reason}


class LogoutView(auth_views.LogoutView):
    """Django's log out (a POST), after which the login page says it happened. An operator who leaves the
    header's "Go offline" ticked (it is, by default) is set offline first, with any return time dropped
    (the worker would otherwise make them available again at it): before the session ends, so that the
    change history names the user."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        offline = self._go_offline(request) if request.POST.get("go_offline") else None
        response = super().post(request, *args, **kwargs)
        # Added after the session is flushed: the message travels in its cookie (the default storage).
        if offline is None:
            messages.info(request, _("You are logged out."))
        elif offline:
            messages.warning(request, _("You are logged out, but not offline: %(why)s") % {"why": offline})
        else:
            messages.info(request, _("You are logged out and offline: no new contacts come to you."))
        return response

    @staticmethod
    def _go_offline(request: HttpRequest) -> str | None:
        """Set the user's operator offline: None when there is none, "" when done, else why it failed."""
        operator = operator_of(request.user)
        if operator is None:
            return None
        if operator.presence == Presence.OFFLINE and operator.presence_until is None:
            return ""
        try:
            capacity.update_operator(
                operator=operator, presence=Presence.OFFLINE, presence_reason="", presence_until=None
            )
        except ValidationError as error:
            log.warning("logout: operator %s not set offline: %s", operator.pk, error.messages)
            return " ".join(error.messages)
        return ""


@require_POST
@operator_required
def my_contact(request: HttpRequest, operator: Operator, pk: int, action: str) -> HttpResponse:
    """My work's buttons on a contact: accept or decline an offer, close a contact handled (with an optional
    note). A late or foreign one says so; nothing else changes."""
    now = timezone.now()
    by = request.user.get_username()
    try:
        if action == "accept":
            offers.accept(contact_id=pk, operator_id=operator.pk, now=now, by=by)
            messages.success(request, _("Accepted: the contact is yours."))
        elif action == "decline":
            offers.decline(contact_id=pk, operator_id=operator.pk, now=now, by=by)
            messages.info(request, _("Declined: the contact goes to someone else."))
        else:
            offers.close(
                contact_id=pk, operator_id=operator.pk, outcome=request.POST.get("outcome", ""), now=now
            )
            messages.success(request, _("Closed."))
    except (offers.OfferExpired, offers.NotAllowed) as refused:
        messages.error(request, str(refused))
    except ValidationError as refused:
        messages.error(request, " ".join(refused.messages))
    except Contact.DoesNotExist:
        messages.error(request, _("That contact no longer exists."))
    return HttpResponseRedirect(reverse("my_work"))
