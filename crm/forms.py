"""Parsing the staff pages' query strings: bad input becomes a message on the page, never a 500."""

from collections.abc import Iterable
from datetime import date

from django import forms

from crm.models import Operator, Source

DATE_FORMAT = "%Y-%m-%d"
DATE_ERRORS = {"invalid": "Enter a date as YYYY-MM-DD, for example 2024-06-01."}
# Far-off years would overflow when a day is turned into a time range; nobody means them.
EARLIEST, LATEST = date(1900, 1, 1), date(9998, 12, 31)


class ContactFilterForm(forms.Form):
    """Filters of the contact list: ?source=<id>&operator=<id>&unassigned=1&from=YYYY-MM-DD&to=YYYY-MM-DD.

    The choices come in as lists the view has already fetched, so validating and rendering run no query.
    """

    source = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    operator = forms.TypedChoiceField(coerce=int, empty_value=None, required=False)
    # value="1" so that the form submits the same ?unassigned=1 that links use.
    unassigned = forms.BooleanField(
        required=False, label="Unassigned only", widget=forms.CheckboxInput(attrs={"value": "1"})
    )

    def __init__(self, data, *, sources: Iterable[Source], operators: Iterable[Operator]) -> None:
        super().__init__(data)
        self.fields["source"].choices = [("", "All sources"), *((s.pk, s.name) for s in sources)]
        self.fields["operator"].choices = [("", "All operators"), *((o.pk, o.name) for o in operators)]
        # "from" is a Python keyword, so the date fields are added under their URL names here.
        self.fields["from"] = _day_field("From")
        self.fields["to"] = _day_field("To (inclusive)")

    def clean(self) -> dict:
        cleaned = super().clean()
        for name in ("from", "to"):
            day = cleaned.get(name)
            if day and not EARLIEST <= day <= LATEST:
                self.add_error(name, f"Enter a date between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}.")
        start, end = cleaned.get("from"), cleaned.get("to")
        if start and end and end < start:
            raise forms.ValidationError("The “to” date is before the “from” date.")
        return cleaned


def _day_field(label: str) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        input_formats=[DATE_FORMAT],
        widget=forms.DateInput(attrs={"type": "date"}, format=DATE_FORMAT),
        error_messages=DATE_ERRORS,
    )
