"""What the pages read about the events: deliveries given up lately (the staff dashboard's warning)."""

from datetime import datetime, timedelta

from events.choices import DeliveryStatus
from events.models import Delivery

FAILED_WARNING_WINDOW = timedelta(hours=24)


def failed_deliveries(*, now: datetime) -> int:
    """Deliveries given up (every attempt failed) within FAILED_WARNING_WINDOW before `now`: a failed
    delivery keeps the due time of its last attempt in `next_attempt_at` (one read of a partial index)."""
    return Delivery.objects.filter(
        status=DeliveryStatus.FAILED, next_attempt_at__gte=now - FAILED_WARNING_WINDOW
    ).count()
