"""pydantic's validation messages in the request's language. pydantic words them in English only, so each
error is said again from its `type` and `ctx`: one sentence per type, here; a type not listed keeps
pydantic's own text. A validator of ours (`value_error`) says its own, already translated, message."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

WHOLE_NUMBER = _("Must be a whole number.")
TRUE_OR_FALSE = _("Must be true or false.")
STRING = _("Must be a string.")
NUMBER = _("Must be a number.")
OBJECT = _("Must be an object.")
JSON = _("Malformed JSON.")
DATE = _("Must be a date as YYYY-MM-DD.")
DATETIME = _("Must be a date and time as YYYY-MM-DDTHH:MM:SS with its time zone.")
ONE_OF = _("Must be one of: %(expected)s.")

MESSAGES = {
    "missing": _("This field is missing."),
    "extra_forbidden": _("Not a field of this operation; leave it out."),
    "int_type": WHOLE_NUMBER,
    "int_parsing": WHOLE_NUMBER,
    "int_from_float": WHOLE_NUMBER,
    "int_parsing_size": WHOLE_NUMBER,
    "bool_type": TRUE_OR_FALSE,
    "bool_parsing": TRUE_OR_FALSE,
    "string_type": STRING,
    "string_unicode": STRING,
    "string_too_short": ngettext_lazy(
        "Must be at least %(min_length)d character long.",
        "Must be at least %(min_length)d characters long.",
        "min_length",
    ),
    "string_too_long": ngettext_lazy(
        "Must be at most %(max_length)d character long.",
        "Must be at most %(max_length)d characters long.",
        "max_length",
    ),
    "string_pattern_mismatch": _("Must match the pattern %(pattern)s."),
    "greater_than": _("Must be greater than %(gt)s."),
    "greater_than_equal": _("Must be at least %(ge)s."),
    "less_than": _("Must be less than %(lt)s."),
    "less_than_equal": _("Must be at most %(le)s."),
    "multiple_of": _("Must be a multiple of %(multiple_of)s."),
    "float_type": NUMBER,
    "float_parsing": NUMBER,
    "finite_number": NUMBER,
    "decimal_parsing": NUMBER,
    "list_type": _("Must be a list."),
    "too_short": ngettext_lazy(
        "Must have at least %(min_length)d item.", "Must have at least %(min_length)d items.", "min_length"
    ),
    "too_long": ngettext_lazy(
        "Must have at most %(max_length)d item.", "Must have at most %(max_length)d items.", "max_length"
    ),
    "dict_type": OBJECT,
    "model_type": OBJECT,
    "model_attributes_type": OBJECT,
    "json_invalid": JSON,
    "json_type": JSON,
    "date_type": DATE,
    "date_parsing": DATE,
    "date_from_datetime_parsing": DATE,
    "date_from_datetime_inexact": DATE,
    "datetime_type": DATETIME,
    "datetime_parsing": DATETIME,
    "datetime_from_date_parsing": DATETIME,
    "enum": ONE_OF,
    "literal_error": ONE_OF,
    "none_required": _("Must be null."),
}


def message(error: dict) -> str:
    """One pydantic error (an item of ValidationError.errors()) as a sentence in the active language."""
    if error["type"] == "value_error":  # our validator's message, without pydantic's "Value error, "
        return str(error["ctx"]["error"])
    said = MESSAGES.get(error["type"])
    if said is None:
        return error["msg"]
    context = dict(error.get("ctx") or {})
    if "expected" in context:  # pydantic's list of choices: "'read' or 'write'"
        context["expected"] = str(context["expected"]).replace(" or ", ", ")
    try:
        return said % context
    except (KeyError, TypeError, ValueError):  # a context this pydantic version words differently
        return error["msg"]
