"""Rules for text that people and channels send in: declared once, used by the models (and so by every form,
the webhook and the API)."""

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _


@deconstructible
class NoControlCharacters:
    """Refuse control characters (but those `allowed`) and unpaired surrogates: PostgreSQL cannot store a
    NUL, they break logs and terminals, and no customer's name needs them."""

    message = _("Control characters and unpaired surrogates are not allowed.")

    def __init__(self, allowed: str = "") -> None:
        self.allowed = allowed

    def __call__(self, value: str) -> None:
        if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in self.allowed for ch in str(value)):
            raise ValidationError(self.message, code="control_characters")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoControlCharacters) and other.allowed == self.allowed


single_line = NoControlCharacters()
multi_line = NoControlCharacters(allowed="\n\r\t")
