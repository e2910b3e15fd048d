from django.db import models


class AuthFailures(models.Model):
    """Failed authentications from one client in its current window (see throttle.services).

    One row per client, updated in place by one upsert, so workers on any host agree on the count.
    The window start is Unix time in seconds: plain integers compare the same on every engine, also in
    the raw SQL that keeps the count atomic.
    """

    # An IPv4 address, or an IPv6 /64 network (one customer usually holds a whole /64).
    client = models.CharField(max_length=64, primary_key=True)
    window_started = models.BigIntegerField(
        db_index=True, help_text="Unix time (seconds) of the window's first failure."
    )
    failures = models.PositiveIntegerField(help_text="Failed authentications since the window started.")

    class Meta:
        verbose_name = "authentication failures"
        verbose_name_plural = "authentication failures"

    def __str__(self) -> str:
        return f"{self.client}: {self.failures}"
