"""Failed authentications per client: the webhook's tokens and the API's keys share one throttle.

A client may fail `API_AUTH_FAILURE_LIMIT` times per window of `API_AUTH_FAILURE_WINDOW_SECONDS` (a fixed
window that starts at its first failure); beyond that, until the window ends, its failures raise
TooManyFailures, which the webhook and the API answer with 429 and Retry-After. Only failures are
recorded: a request with a valid token or key never touches the table, so the intake's hot path is
unchanged. Counted in the database, so every worker and host sees the same count.
"""

import math
import time

from django.conf import settings
from django.db import transaction

from distribution import db, sql
from throttle.models import AuthFailures
from throttle.services import client_key


class TooManyFailures(Exception):
    """The client has used up its failed authentications for now; `wait` seconds until it may try again."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"retry in {wait} s")
        self.wait = wait


def record_failure(ip: str) -> None:
    """Count one failed authentication from `ip`; raise TooManyFailures once it is over the limit."""
    now = time.time()
    expired_before = int(now) - settings.API_AUTH_FAILURE_WINDOW_SECONDS
    with transaction.atomic():
        ((count, window_started),) = db.fetch_all(
            sql.record_auth_failure(client=client_key(ip), now=int(now), expired_before=expired_before)
        )
        if count == 1:
            # A new window: the moment to drop other clients' finished ones, so the table holds only
            # clients that failed recently, however many addresses an attacker uses.
            AuthFailures.objects.filter(window_started__lte=expired_before).delete()
    if count > settings.API_AUTH_FAILURE_LIMIT:
        raise TooManyFailures(
            max(1, math.ceil(window_started + settings.API_AUTH_FAILURE_WINDOW_SECONDS - now))
        )
