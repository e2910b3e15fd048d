"""docs/api.md's outbound events: its ten lines of Python verify a real signature (events.signing) and refuse
another secret, a changed body and a stale timestamp; its retry schedule is events.delivery's."""

import random
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest

from events import delivery, signing

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def section() -> str:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("## 8. Outbound events")
    return text[start : text.index("\n## ", start + 1)]


@pytest.fixture
def verify():
    (snippet,) = re.findall(r"```python\n(.*?)```", section(), re.S)
    assert len(snippet.strip().splitlines()) <= 10
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - the documentation's own example, run as a receiver would
    return namespace["verify"]


@pytest.fixture
def signed(settings) -> tuple[str, str, bytes]:
    settings.EVENTS_SIGNING_KEY = "documentation-test-key"
    salt = signing.new_salt()
    body = b'{"id":"0b6f0a8e","type":"contact.assigned","data":{"contact":{"id":12}}}'
    header = signing.header([salt], timestamp=int(time.time()), body=body)
    return signing.secret_of(salt), header, body


def test_the_documented_check_accepts_the_right_secret(verify, signed):
    secret, header, body = signed
    assert verify(secret, header, body) is True


def test_the_documented_check_refuses_another_secret_or_a_changed_body(verify, signed):
    secret, header, body = signed
    assert verify(signing.secret_of(signing.new_salt()), header, body) is False
    assert verify(secret, header, body.replace(b"12", b"13")) is False
    assert verify(secret, "v1=" + header.split("v1=")[1], body) is False  # no timestamp


def test_the_documented_check_refuses_a_stale_timestamp(verify, settings):
    settings.EVENTS_SIGNING_KEY = "documentation-test-key"
    salt, body = signing.new_salt(), b"{}"
    stale = signing.header([salt], timestamp=int(time.time()) - 301, body=body)
    assert verify(signing.secret_of(salt), stale, body) is False


def test_the_documented_check_takes_either_signature_during_a_grace_period(verify, settings):
    settings.EVENTS_SIGNING_KEY = "documentation-test-key"
    new, old, body = signing.new_salt(), signing.new_salt(), b"{}"
    header = signing.header([new, old], timestamp=int(time.time()), body=body)
    assert verify(signing.secret_of(new), header, body) and verify(signing.secret_of(old), header, body)


class NoJitter(random.Random):
    def random(self) -> float:
        return 0.0


def test_the_documented_retries_are_the_senders():
    text = section()
    waits = [delivery.backoff(n, rng=NoJitter()) for n in range(1, delivery.MAX_ATTEMPTS)]
    assert f"{delivery.MAX_ATTEMPTS} attempts in all" in text
    assert waits[:3] == [timedelta(seconds=10), timedelta(seconds=30), timedelta(seconds=90)]
    assert max(waits) == timedelta(hours=8) and "at most 8 hours" in text
    assert timedelta(hours=20) < sum(waits, timedelta()) * 0.8 and sum(waits, timedelta()) < timedelta(
        hours=26
    )
