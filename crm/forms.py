"""Parsing the staff pages' query strings: bad input becomes a message on the page, never a 500."""

from collections.abc import Iterable
from datetime import date, timedelta

from django import forms
from django.utils import formats
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.choices import ContactState
from crm.days import EARLIEST, LATEST
from crm.history import author_label
from crm.models import Operator, Source

ISO_DATE = "%Y-%m-%d"
EXAMPLE_DAY = date(2026, 12, 31)


def typed_date(day: date) -> str:
    """A day as the active language types it (its first DATE_INPUT_FORMATS: 31.12.2026, 2026-12-31); the
    year always in four digits (strftime leaves year 1 as "1")."""
    return day.strftime(formats.get_format("DATE_INPUT_FORMATS")[0].replace("%Y", f"{day.year:04d}"))


def _date_error() -> str:
    example = typed_date(EXAMPLE_DAY)
    iso = EXAMPLE_DAY.strftime(ISO_DATE)
    if example == iso:
        return gettext("Enter a date such as %(example)s.") % {"example": example}
    return gettext("Enter a date such as %(example)s or %(iso)s.") % {"example": example, "iso": iso}


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


def _name_search(label: str, example: str) -> forms.CharField:
    """A search over names: optional, trimmed, as long as a name may be."""
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": example}),
    )


class DashboardForm(forms.Form):
    """The dashboard's source table: ?src_q=<name>&src_page=<n>; its operator table: ?op_q=<name>
    &op_source=<id>&op_page=<n> (a search over names, the operators of one source). A value that does not
    parse is left out rather than failing the page."""

    src_q = _name_search(_("Source"), _("e.g. Site form"))
    op_q = _name_search(_("Operator"), _("e.g. Anna"))
    op_source = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class _DateRange(forms.Form):
    """?from=<day>&to=<day>, both days included, in the current time zone: a day typed in the language's
    order (31.12.2026 in Russian, 2026-12-31 in English) or as ISO YYYY-MM-DD, which every language takes
    and links use. "from" is a Python keyword, so the fields are added under their URL names here."""

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
                    % {"first": typed_date(EARLIEST), "last": typed_date(LATEST)},
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
        self.fields["who"].choices = [("", _("Anyone")), *((a, author_label(a)) for a in authors)]
        self.order_fields(["operator", "source", "who", "from", "to"])


class ContactFilterForm(_DateRange, _SourceOperatorChoices):
    """Filters of the contact list: ?source=<id>&operator=<id>&state=<state>&unassigned=1&from=<day>&to=<day>.

    The choices come in as lists the view has already fetched, so validating and rendering run no query.
    """

    # value="1" so that the form submits the same ?unassigned=1 that links use.
    unassigned = forms.BooleanField(
        required=False, label=_("Unassigned only"), widget=forms.CheckboxInput(attrs={"value": "1"})
    )
    state = forms.ChoiceField(
        required=False, label=_("State"), choices=[("", _("any state")), *ContactState.choices]
    )

    def __init__(self, data, **choices) -> None:
        super().__init__(data, **choices)
        self.order_fields(["source", "operator", "state", "unassigned", "from", "to"])


def _day_field(label) -> forms.DateField:
    """A text box, not <input type="date">: a date input shows the browser's order, not the page's language.
    It parses the language's DATE_INPUT_FORMATS (config/formats/<lang>), which end with ISO."""
    return forms.DateField(
        label=label,
        required=False,
        widget=forms.DateInput(
            attrs={"placeholder": lazy(typed_date, str)(EXAMPLE_DAY), "inputmode": "numeric", "size": 10}
        ),
        error_messages={"invalid": lazy(_date_error, str)()},
    )


class ReportForm(_DateRange):
    """The reports' days: ?from=<day>&to=<day>; without them the last REPORT_DEFAULT_DAYS days to today."""

    def period(self, today: date) -> tuple[date, date] | None:
        """The days asked for (the defaults fill what is left out), or None when the form has errors."""
        if not self.is_valid():
            return None
        end = self.cleaned_data.get("to") or today
        start = self.cleaned_data.get("from") or end - timedelta(days=REPORT_DEFAULT_DAYS - 1)
        if start > end:
            self.add_error("from", _("The “to” date is before the “from” date."))
            return None
        return start, end


REPORT_DEFAULT_DAYS = 7
