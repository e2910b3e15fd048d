"""Each subscription's signing secret, and the signature every delivery carries.

The secret is derived (HMAC-SHA256) from a random salt stored on the subscription and EVENTS_SIGNING_KEY
(by default SECRET_KEY), so the database alone holds nothing that signs, and the secret is shown only once,
when it is made. Changing EVENTS_SIGNING_KEY changes every subscription's secret: rotate them all then.

The signature, as Stripe's: `Leadflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`,
with a second v1 for a rotated secret still in its grace period. Receivers check one v1 with their secret
and refuse a `t` too far from their clock (replays): `verify` below, and docs/api.md's ten lines.
"""

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

from django.conf import settings

PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


def new_salt() -> str:
    return secrets.token_hex(32)


def secret_of(salt: str) -> str:
    """The signing secret a salt stands for (whsec_…, 43 characters of base64url after the prefix)."""
    key = (settings.EVENTS_SIGNING_KEY or settings.SECRET_KEY).encode()
    digest = hmac.new(key, b"leadflow-subscription:" + salt.encode(), hashlib.sha256).digest()
    return PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def header(salts: list[str], *, timestamp: int, body: bytes) -> str:
    """The Leadflow-Signature header: one v1 per secret in force (the current one first)."""
    return ",".join([f"t={timestamp}", *(f"v1={sign(secret_of(salt), timestamp, body)}" for salt in salts)])


def verify(
    secret: str, signature_header: str, body: bytes, *, now: datetime, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: some v1 matches the body signed with its secret, and t is recent."""
    parts = [part.split("=", 1) for part in signature_header.split(",") if "=" in part]
    stamps = [value for key, value in parts if key == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now.timestamp() - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, value) for key, value in parts if key == "v1")
