"""Who the client is, and how often it failed to authenticate.

A client may fail `API_AUTH_FAILURE_LIMIT` times per window of `API_AUTH_FAILURE_WINDOW_SECONDS` (a fixed
window that starts at its first failure); beyond that, until the window ends, its failures are answered
`429` with `Retry-After`. Only failures are recorded: a request with a valid token never touches the
table, so the intake's hot path is unchanged.
"""

import ipaddress
import math
import time
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.utils.translation import ngettext

from config.errors import json_error
from throttle.models import AuthFailures

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=1)
def _trusted_proxies(
    setting: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None:
    """The networks of FORWARDED_ALLOW_IPS; None for '*' (every peer is a trusted proxy)."""
    if "*" in setting:
        return None
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in setting)


def _parse(address: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(address.strip())
    except ValueError:
        return None


def _is_trusted_proxy(address: IPAddress | None) -> bool:
    networks = _trusted_proxies(tuple(settings.FORWARDED_ALLOW_IPS))
    return address is not None and (networks is None or any(address in net for net in networks))


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or behind a trusted proxy the X-Forwarded-For hop it added.

    gunicorn leaves REMOTE_ADDR as the proxy's address, so behind nginx every client would share one
    address (and one lockout). X-Forwarded-For is read right to left and only past proxies we trust
    (FORWARDED_ALLOW_IPS, the same list gunicorn trusts), so a client cannot choose its own address.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not forwarded or not _is_trusted_proxy(_parse(remote)):
        return remote
    client = remote
    for hop in reversed(forwarded.split(",")):
        address = _parse(hop)
        if address is None:
            break  # a hop we cannot read: do not guess past it
        client = str(address)
        if not _is_trusted_proxy(address):
            break
    # The first hop (from the right) that is not a trusted proxy; if all are (FORWARDED_ALLOW_IPS=*),
    # the leftmost one.
    return client


def client_key(ip: str) -> str:
    """What failures are counted under: the address, or its /64 for IPv6 (a single host usually gets a
    whole /64, so counting per address would let it rotate through 2**64 of them)."""
    address = _parse(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    if isinstance(address, ipaddress.IPv6Address):
        return str(address.ipv4_mapped)
    return str(address) if address is not None else ip[:64]


def _wait(window_started: int, now: float) -> int:
    return max(1, math.ceil(window_started + settings.API_AUTH_FAILURE_WINDOW_SECONDS - now))


def record_failure(ip: str) -> int | None:
    """Count one failed authentication from `ip`; the seconds it must wait once over the limit, else None.

    One upsert does the counting, so concurrent failures in any number of workers and hosts each count
    exactly once. A failure after the window has ended starts a new window (and clears expired rows).
    """
    now = time.time()
    expired_before = int(now) - settings.API_AUTH_FAILURE_WINDOW_SECONDS
    table = connection.ops.quote_name(AuthFailures._meta.db_table)
    client, started, failures = (
        connection.ops.quote_name(AuthFailures._meta.get_field(name).column)
        for name in ("client", "window_started", "failures")
    )
    upsert = (
        f"INSERT INTO {table} ({client}, {started}, {failures}) VALUES (%s, %s, 1) "
        f"ON CONFLICT ({client}) DO UPDATE SET "
        f"{failures} = CASE WHEN {table}.{started} > %s THEN {table}.{failures} + 1 ELSE 1 END, "
        f"{started} = CASE WHEN {table}.{started} > %s THEN {table}.{started} ELSE %s END "
        f"RETURNING {failures}, {started}"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(upsert, [client_key(ip), int(now), expired_before, expired_before, int(now)])
        count, window_started = cursor.fetchone()
        if count == 1:
            # A new window: the moment to drop other clients' finished ones, so the table holds only
            # clients that failed recently, however many addresses an attacker uses.
            AuthFailures.objects.filter(window_started__lte=expired_before).delete()
    if count > settings.API_AUTH_FAILURE_LIMIT:
        return _wait(window_started, now)
    return None


def blocked_for(ip: str) -> int | None:
    """Seconds `ip` must wait because it has used up its failures in the current window, else None."""
    now = time.time()
    row = (
        AuthFailures.objects.filter(
            client=client_key(ip),
            window_started__gt=int(now) - settings.API_AUTH_FAILURE_WINDOW_SECONDS,
            failures__gte=settings.API_AUTH_FAILURE_LIMIT,
        )
        .values_list("window_started", flat=True)
        .first()
    )
    return None if row is None else _wait(row, now)


def too_many_failures(wait: int) -> JsonResponse:
    """The one answer for a throttled client: 429, Retry-After and the API's error shape."""
    return json_error(
        429,
        "authorization",
        ngettext(
            "Too many failed authentications from this address; try again in %(seconds)d second.",
            "Too many failed authentications from this address; try again in %(seconds)d seconds.",
            wait,
        )
        % {"seconds": wait},
        **{"Retry-After": str(wait)},
    )
