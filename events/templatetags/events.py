"""The staff dashboard's word on outbound events, drawn by the events app itself: the dashboard (crm) shows
it through this tag and never imports events (the layers: README, Architecture)."""

from django import template
from django.utils import timezone

from events.selectors import failed_deliveries

register = template.Library()


@register.inclusion_tag("events/_failed_deliveries.html")
def failed_deliveries_warning() -> dict:
    """A warning naming how many deliveries were given up in the last 24 hours (nothing when none)."""
    return {"failed": failed_deliveries(now=timezone.now())}
