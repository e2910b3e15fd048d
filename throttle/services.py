"""Who the client is: its address behind trusted proxies, and the key its failed authentications are counted
under (distribution.throttling counts them; django-axes reads the address too)."""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

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
