"""The supervisors' hand assignment, as forms: one contact to an operator or again through the draw (the staff
pages and the admin's action), and the queue page's bulk actions; an operator's own presence (My work)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import selectors
from crm.choices import BACK_IN_MINUTES, CHOSEN_AWAY_REASONS, Presence
from crm.models import Contact, Operator
from crm.templatetags.leadflow import assign_menu


class AssignForm(forms.Form):
    """Give contacts to an operator, or route them again through the draw (`route_again`, staff pages only).

    With `contacts`, the operator menu is the staff pages' one: each operator's load against the limit, the
    contacts' sources' own operators first (selectors.assign_choices); the choice itself is still checked
    against every operator."""

    operator = forms.ModelChoiceField(label=_("Operator"), queryset=Operator.objects.all(), required=False)
    override = forms.BooleanField(
        label=_("Even if the operator is full or switched off"),
        required=False,
        help_text=_("Only if the operator is switched off or full and must take these contacts anyway."),
    )
    route_again = forms.BooleanField(required=False)

    def __init__(
        self, data=None, *, contacts: list[Contact] | None = None, may_route_again: bool = True
    ) -> None:
        super().__init__(data)
        if not may_route_again:  # the admin's "assign to an operator" action names an operator
            del self.fields["route_again"]
        if contacts is not None:
            choices = selectors.assign_choices(
                now=timezone.now(), source_ids=[contact.source_id for contact in contacts]
            )
            menu = assign_menu(choices, [contact.source for contact in contacts])
            self.fields["operator"].choices = [("", "---------"), *menu]

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("route_again") and cleaned.get("operator") is None:
            raise forms.ValidationError(_("Choose an operator, or route the contact again."))
        return cleaned


class ContactIdsField(forms.Field):
    """Ids of ticked contacts (contact=3&contact=7, read as a list by the widget): whole numbers."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {"invalid": _("Tick the contacts first.")}

    def to_python(self, value) -> list[int]:
        try:
            return [int(v) for v in value or []]
        except (TypeError, ValueError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class QueueActionForm(forms.Form):
    """The queue page's bulk actions on the ticked contacts (or all on the page): route them again through
    the draw, or assign them to one operator (overriding the limit and active flag only if ticked)."""

    ROUTE_AGAIN, ASSIGN = "route_again", "assign"

    action = forms.ChoiceField(choices=[(ROUTE_AGAIN, _("Route again")), (ASSIGN, _("Assign"))])
    contact = ContactIdsField(required=False)
    on_page = ContactIdsField(required=False)
    all_on_page = forms.BooleanField(required=False)
    operator = forms.ModelChoiceField(label=_("Operator"), queryset=Operator.objects.all(), required=False)
    override = forms.BooleanField(label=_("Even if the operator is full or switched off"), required=False)

    def clean(self) -> dict:
        cleaned = super().clean()
        ids = cleaned.get("on_page") if cleaned.get("all_on_page") else cleaned.get("contact")
        if not ids:
            raise forms.ValidationError(_("Tick the contacts first."))
        cleaned["ids"] = ids
        if cleaned.get("action") == self.ASSIGN and cleaned.get("operator") is None:
            raise forms.ValidationError(_("Choose an operator to assign the contacts to."))
        return cleaned


class PresenceForm(forms.Form):
    """My work's presence buttons: available, away for a reason (back in some minutes, or at a time of the
    operator's own day, or with no set time), offline. `changes` is what capacity.update_operator takes; a
    return time that is not ahead is the service's to refuse."""

    presence = forms.ChoiceField(choices=Presence.choices)
    reason = forms.ChoiceField(
        choices=[(reason.value, reason.label) for reason in CHOSEN_AWAY_REASONS], required=False
    )
    back_in = forms.TypedChoiceField(
        choices=[(m, m) for m in BACK_IN_MINUTES], coerce=int, empty_value=None, required=False
    )
    back_at = forms.TimeField(required=False)

    def __init__(self, data, *, zone: str, now: datetime) -> None:
        super().__init__(data)
        self.zone, self.now = ZoneInfo(zone), now

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:  # a value no button sends: the view says so in general
            return cleaned
        presence, until = cleaned.get("presence"), None
        if presence == Presence.AWAY:
            if not cleaned.get("reason"):
                raise forms.ValidationError(_("Say why you are away."))
            back_in, back_at = cleaned.get("back_in"), cleaned.get("back_at")
            if back_in and back_at:
                raise forms.ValidationError(_("Choose when you are back in minutes or as a time, not both."))
            if back_in:
                until = self.now + timedelta(minutes=back_in)
            elif back_at:
                # A time of the operator's own day today (one before now is refused, not moved to tomorrow).
                today = self.now.astimezone(self.zone).date()
                until = datetime.combine(today, back_at, tzinfo=self.zone)
        cleaned["changes"] = {
            "presence": presence,
            "presence_reason": (cleaned.get("reason") or "") if presence == Presence.AWAY else "",
            "presence_until": until,
        }
        return cleaned
