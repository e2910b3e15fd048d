"""Parsing the staff pages' query strings: bad input becomes a message on the page, never a 500."""

from collections.abc import Iterable

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.days import EARLIEST, LATEST
from crm.models import Operator, Source

DATE_FORMAT = "%Y-%m-%d"
DATE_ERRORS = {"invalid": _("Enter a date as YYYY-MM-DD, for example 2024-06-01.")}


class _SourceOperatorChoices(forms.Form):
    """Source and operator filters whose choices the view has fetched already (rendering runs no query)."""

    source = forms.TypedChoiceField(label=_("Source"), coerce=int, empty_value=None, required=False)
    operator = forms.TypedChoiceField(label=_("Operator"), coerce=int, empty_value=None, required=False)

    def __init__(self, data, *, sources: Iterable[Source], operators: Iterable[Operator]) -> None:
        super().__init__(data)
        self.fields["source"].choices = [("", _("All sources")), *((s.pk, s.name) for s in sources)]
        self.fields["operator"].choices = [("", _("All operators")), *((o.pk, o.name) for o in operators)]


class LeadFilterForm(_SourceOperatorChoices):
    """Filters of the lead list: ?q=<text>&source=<id>&operator=<id>&waiting=1 (leads that came through the
    source, that the operator has handled, that have a contact waiting for an operator)."""

    q = forms.CharField(
        label=_("Search external id or name"),
        required=False,
        strip=True,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("e.g. tg-1234 or Ivan")}),
    )
    waiting = forms.BooleanField(
        required=False, label=_("Waiting for an operator"), widget=forms.CheckboxInput(attrs={"value": "1"})
    )
    field_order = ("q", "source", "operator", "waiting")


class _DateRange(forms.Form):
    """?from=YYYY-MM-DD&to=YYYY-MM-DD, both days included, in the current time zone. "from" is a Python
    keyword, so the fields are added under their URL names here."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["from"] = _day_field(_("From"))
        self.fields["to"] = _day_field(_("To (inclusive)"))

    def clean(self) -> dict:
        cleaned = super().clean()
        for name in ("from", "to"):
            day = cleaned.get(name)
            if day and not EARLIEST <= day <= LATEST:
                self.add_error(
                    name,
                    _("Enter a date between %(first)s and %(last)s.")
                    % {"first": EARLIEST.isoformat(), "last": LATEST.isoformat()},
                )
        start, end = cleaned.get("from"), cleaned.get("to")
        if start and end and end < start:
            raise forms.ValidationError(_("The “to” date is before the “from” date."))
        return cleaned


class ChangeFilterForm(_DateRange, _SourceOperatorChoices):
    """Filters of the Changes page: ?operator=<id>&source=<id>&who=<user name or api:key>&from=&to=."""

    who = forms.ChoiceField(label=_("Made by"), required=False)

    def __init__(self, data, *, authors: Iterable[str], **choices) -> None:
        super().__init__(data, **choices)
        self.fields["who"].choices = [("", _("Anyone")), *((a, a) for a in authors)]
        self.order_fields(["operator", "source", "who", "from", "to"])


class AssignForm(forms.Form):
    """A supervisor's hand assignment from a staff page: to an operator, or again through the draw."""

    operator = forms.ModelChoiceField(label=_("Operator"), queryset=Operator.objects.all(), required=False)
    override = forms.BooleanField(label=_("Even if the operator is full or switched off"), required=False)
    route_again = forms.BooleanField(required=False)

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("route_again") and cleaned.get("operator") is None:
            raise forms.ValidationError(_("Choose an operator, or route the contact again."))
        return cleaned


class ContactFilterForm(_DateRange, _SourceOperatorChoices):
    """Filters of the contact list: ?source=<id>&operator=<id>&unassigned=1&from=YYYY-MM-DD&to=YYYY-MM-DD.

    The choices come in as lists the view has already fetched, so validating and rendering run no query.
    """

    # value="1" so that the form submits the same ?unassigned=1 that links use.
    unassigned = forms.BooleanField(
        required=False, label=_("Unassigned only"), widget=forms.CheckboxInput(attrs={"value": "1"})
    )


def _day_field(label) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        input_formats=[DATE_FORMAT],
        widget=forms.DateInput(attrs={"type": "date"}, format=DATE_FORMAT),
        error_messages=DATE_ERRORS,
    )
