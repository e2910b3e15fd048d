"""Rules for text that people and channels send in: declared once, used by the models (and so by every form,
the webhook and the API)."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

# Unicode's control characters (general category Cc: U+0000-U+001F and U+007F-U+009F, a set Unicode keeps
# stable) and the surrogate code points (Cs), which a str holds only unpaired.
CONTROL = [chr(n) for n in (*range(0x20), *range(0x7F, 0xA0))]
SURROGATES = "\ud800-\udfff"


def control_characters(allowed: str = "") -> re.Pattern:
    """The control characters (but those `allowed`) and unpaired surrogates: the one definition of what no
    text people or channels send may hold (the models' validators, the API's names, the query strings)."""
    refused = "".join(re.escape(ch) for ch in CONTROL if ch not in allowed)
    return re.compile(f"[{refused}{SURROGATES}]")


@deconstructible
class NoControlCharacters:
    """Refuse control characters (but those `allowed`) and unpaired surrogates: PostgreSQL cannot store a
    NUL, they break logs and terminals, and no customer's name needs them."""

    message = _("Control characters and unpaired surrogates are not allowed.")

    def __init__(self, allowed: str = "") -> None:
        self.allowed = allowed
        # One pass of the regex engine: every webhook field goes through this.
        self._refused = control_characters(allowed)

    def __call__(self, value: str) -> None:
        if self._refused.search(str(value)):
            raise ValidationError(self.message, code="control_characters")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoControlCharacters) and other.allowed == self.allowed


single_line = NoControlCharacters()
multi_line = NoControlCharacters(allowed="\n\r\t")


def bounds(model: type, field_name: str) -> tuple[int | None, int | None]:
    """The smallest and largest value the model's number field accepts: the tightest of its validators,
    the database's own range included. Forms get them from the model field itself; the API's schemas and
    services read them here, so every way in has the same bounds."""
    low, high = None, None
    for validator in model._meta.get_field(field_name).validators:
        if isinstance(validator, MinValueValidator):
            low = validator.limit_value if low is None else max(low, validator.limit_value)
        elif isinstance(validator, MaxValueValidator):
            high = validator.limit_value if high is None else min(high, validator.limit_value)
    return low, high


def time_zone(name: str) -> None:
    """An IANA time zone name this machine knows ("Europe/Moscow", "America/New_York", "UTC")."""
    from zoneinfo import available_timezones

    if name not in _known_zones(available_timezones):
        raise ValidationError(
            _("Unknown time zone: use an IANA name such as Europe/Moscow."), code="time_zone"
        )


def _known_zones(listing) -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(listing()) | {"UTC"}
    return _ZONES


_ZONES: frozenset[str] | None = None
