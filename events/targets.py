"""Where events may be sent: http or https URLs of public addresses only, checked when a subscription is
saved and again, on the address actually connected to, at every delivery (a name that resolves elsewhere
later gains nothing). Loopback, private, link-local and other special addresses are refused unless
OUTBOUND_ALLOW_PRIVATE is true (local receivers in tests and on a private network)."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext


def check_url(url: str) -> None:
    """ValidationError naming `url` unless it is http(s) with a host (its addresses are checked at send)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": gettext("Only http and https URLs with a host name are allowed.")})
    if parts.username or parts.password:
        raise ValidationError({"url": gettext("Put no user name or password in the URL.")})
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValidationError({"url": gettext("The port is not a number from 1 to 65535.")}) from None
    literal = _literal(parts.hostname)
    if literal is not None and not allowed(literal):
        raise ValidationError({"url": gettext("This address is private or local; events go to public ones.")})


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if settings.OUTBOUND_ALLOW_PRIVATE:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> str:
    """One address of the host that may be reached (the first allowed), or OSError saying why not."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_ignored, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if allowed(address):
            return sockaddr[0]
    raise OSError(gettext("%(host)s resolves only to private or local addresses.") % {"host": host})
