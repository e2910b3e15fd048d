"""Supervisor actions on the configuration (the admin's actions call these)."""

from django.db.models import QuerySet
from django.utils import timezone

from crm.models import Operator, Source, new_token


def regenerate_token(*, source: Source) -> Source:
    """Give the source a fresh webhook token; the old one stops working at once."""
    source.token = new_token()
    source.save(update_fields=["token", "updated_at"])
    return source


def set_operators_active(*, operators: QuerySet[Operator], is_active: bool) -> int:
    """Switch operators on or off for distribution; returns how many rows changed."""
    return operators.exclude(is_active=is_active).update(is_active=is_active, updated_at=timezone.now())
