"""Sending the deliveries: HTTP POST of the event's JSON, signed, with a short timeout; retried with
exponential backoff and jitter for about a day (any answer other than 2xx, or no answer), then given up
(failed, shown on the dashboard and in the admin, where it can be sent again).

Order: a delivery is taken only when no earlier event of the same subject (a contact, an operator) is
still pending for the same subscription, so one contact's events reach a receiver that answers 2xx in the
order they happened; other contacts' do not wait. At least once: a delivery is leased to the worker that
sends it; a worker that dies mid-send leaves it to be sent again when the lease ends (the same event id:
receivers deduplicate by it). Sending happens outside any transaction, in threads, at most
PER_SUBSCRIPTION at a time to one subscription, so a slow or dead receiver holds only its own.
"""

import http.client
import json
import logging
import random
import socket
import ssl
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from events import outbox, services, signing, targets
from events.choices import DeliveryStatus
from events.models import Delivery

log = logging.getLogger("leadflow.events")

MAX_ATTEMPTS = 11  # the first and ten retries, about a day in all (BACKOFF)
PER_SUBSCRIPTION = 8  # deliveries in flight to one subscription at most (of THREADS)
THREADS = 16
CLAIM = 64  # deliveries leased per claim, waiting in the sender's queue for a thread
QUEUED_PER_SUBSCRIPTION = 32  # in flight and queued, per subscription: a slow one holds no more
LEASE = timedelta(seconds=60)  # longer than a send can take (OUTBOUND_TIMEOUT_SECONDS)
USER_AGENT = "Leadflow-Events/1"


JITTER = random.SystemRandom()  # no shared state to duplicate across forked processes; tests pass their own


def backoff(attempt: int, *, rng: random.Random = JITTER) -> timedelta:
    """The wait after failed attempt number `attempt` (1, 2, …): 10 s × 3^(attempt − 1), at most 8 hours,
    less up to a fifth at random (jitter: receivers that came back are not hit by every sender at once).
    Ten retries: 10 s, 30 s, 90 s, 4.5 min, 13.5 min, 40.5 min, about 2 h, about 6 h, 8 h and 8 h: a day."""
    seconds = min(10 * 3 ** (attempt - 1), 8 * 3600)
    return timedelta(seconds=seconds * (1 - rng.random() / 5))


@dataclass
class Sent:
    delivered: int = 0
    retried: int = 0
    failed: int = 0  # given up


@dataclass
class Attempt:
    """What one POST got: a status (None: no answer), an error in words, how long it took."""

    status: int | None
    error: str = ""
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Attempt:
    """One POST to the URL's host, connected to an address that targets allows (checked on the address
    actually used), no redirect followed (http.client never follows one)."""
    started = time.monotonic()
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = targets.resolve(parts.hostname, port)
        sock = socket.create_connection((address, port), timeout=timeout)
        if parts.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        connection = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
        connection.sock = sock
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host = parts.netloc.rsplit("@", 1)[-1]
        connection.request("POST", path, body=body, headers={**headers, "Host": host})
        response = connection.getresponse()
        response.read(64 * 1024)  # the answer is not used; read a little so the connection closes cleanly
        connection.close()
        status = response.status
        error = "" if 200 <= status < 300 else f"HTTP {status} {response.reason}"[:500]
        return Attempt(status, error, _ms(started))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Attempt(None, (str(exc) or type(exc).__name__)[:500], _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def claim(
    *, now: datetime, limit: int, busy: Counter | None = None, cap: int = PER_SUBSCRIPTION
) -> list[Delivery]:
    """Lease up to `limit` due deliveries, each the earliest pending one of its subject for its
    subscription, at most cap − busy[subscription] per subscription; rows another worker is claiming are
    skipped.

    Two plain index reads rather than one anti-join (whose plan a table that grows by thousands between
    statistics runs can turn into a scan per row): the due ones, then the earliest pending event of each of
    their subjects."""
    busy = busy or Counter()
    full = [subscription for subscription, n in busy.items() if n >= cap]
    with transaction.atomic():
        due = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .filter(Q(leased_until__isnull=True) | Q(leased_until__lte=now))
            .exclude(subscription_id__in=full)
            .order_by("next_attempt_at", "id")
            .only("id", "subscription_id", "subject", "event_id")[: limit * 4]
        )
        if not due:
            return []
        first = {
            (row["subscription_id"], row["subject"]): row["first"]
            for row in Delivery.objects.filter(
                status=DeliveryStatus.PENDING,
                subscription_id__in={d.subscription_id for d in due},
                subject__in={d.subject for d in due},
            )
            .order_by()
            .values("subscription_id", "subject")
            .annotate(first=Min("event_id"))
        }
        taken, per = [], Counter(busy)
        for delivery in due:
            head = first.get((delivery.subscription_id, delivery.subject)) == delivery.event_id
            if head and len(taken) < limit and per[delivery.subscription_id] < cap:
                per[delivery.subscription_id] += 1
                taken.append(delivery.pk)
        lazy_commit()  # a lease lost in a crash is a delivery sent again: at least once
        Delivery.objects.filter(pk__in=taken).update(leased_until=now + LEASE)
    return list(
        Delivery.objects.filter(pk__in=taken)
        .select_related("event", "subscription")
        .order_by("next_attempt_at", "id")
    )


def send(delivery: Delivery, *, now: datetime | None = None, rng: random.Random | None = None) -> str:
    """POST one leased delivery and record the outcome: "delivered", "retried" or "failed"."""
    now = now or timezone.now()
    body = json.dumps(outbox.body(delivery.event), separators=(",", ":"), ensure_ascii=False).encode()
    subscription = delivery.subscription
    stamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Leadflow-Event-Id": str(delivery.event.public_id),
        "Leadflow-Signature": signing.header(
            services.salts(subscription, now=now), timestamp=stamp, body=body
        ),
    }
    attempt = post(subscription.url, body, headers, timeout=settings.OUTBOUND_TIMEOUT_SECONDS)
    return record(delivery, attempt, now=now, rng=rng)


def record(delivery: Delivery, attempt: Attempt, *, now: datetime, rng: random.Random | None = None) -> str:
    """Store what an attempt got, and what follows from it."""
    tries = delivery.attempts + 1
    fields = {
        "attempts": tries,
        "leased_until": None,
        "last_status": attempt.status,
        "last_error": attempt.error,
        "last_duration_ms": attempt.duration_ms,
    }
    if attempt.ok:
        fields |= {"status": DeliveryStatus.DELIVERED, "delivered_at": now}
        outcome = "delivered"
    elif tries >= MAX_ATTEMPTS:
        fields |= {"status": DeliveryStatus.FAILED}
        outcome = "failed"
        log.warning(
            "delivery=%s to %s failed for good: %s", delivery.pk, delivery.subscription.url, attempt.error
        )
    else:
        wait_for = backoff(tries, rng=rng or JITTER)
        fields |= {"next_attempt_at": now + wait_for}
        outcome = "retried"
    with transaction.atomic():
        lazy_commit()
        # Only while still leased to this send: a supervisor's "send again" meanwhile wins.
        Delivery.objects.filter(pk=delivery.pk, leased_until__isnull=False).update(**fields)
    return outcome


def lazy_commit() -> None:
    """Commit the current transaction without waiting for the disk (PostgreSQL): a delivery's bookkeeping
    lost in a crash of the database only means the delivery is sent again, which receivers already
    tolerate (at least once), and it spares a flush per delivery."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


@dataclass
class Sender:
    """The worker's delivery thread: leases due deliveries CLAIM at a time into a queue, and keeps up to
    `threads` sends in flight from it, at most PER_SUBSCRIPTION to one subscription (and at most
    QUEUED_PER_SUBSCRIPTION of it queued and in flight), so a slow or dead receiver holds only its own
    share. `deliver_due` below sends in the caller's thread instead (tests, `--once`)."""

    threads: int = THREADS
    pool: ThreadPoolExecutor = field(init=False)
    in_flight: dict[Future, int] = field(default_factory=dict)  # future → subscription id
    queue: deque = field(default_factory=deque)  # leased, not yet sent

    def __post_init__(self) -> None:
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="leadflow-send")

    def tick(self, *, now: datetime | None = None, rng: random.Random | None = None) -> int:
        """Reap finished sends, lease more when the queue runs low, start what the threads and the
        per-subscription limits allow; how many started."""
        for future in [f for f in self.in_flight if f.done()]:
            del self.in_flight[future]
            future.result()  # a crash in a send is a bug: let it show
        if len(self.queue) < self.threads:
            outbox.dispatch()
            busy = Counter(self.in_flight.values()) + Counter(d.subscription_id for d in self.queue)
            self.queue.extend(
                claim(now=now or timezone.now(), limit=CLAIM, busy=busy, cap=QUEUED_PER_SUBSCRIPTION)
            )
        started, flying = 0, Counter(self.in_flight.values())
        for delivery in list(self.queue):
            if len(self.in_flight) >= self.threads:
                break
            if flying[delivery.subscription_id] >= PER_SUBSCRIPTION:
                continue
            self.queue.remove(delivery)
            self.in_flight[self.pool.submit(_send_in_thread, delivery, now, rng)] = delivery.subscription_id
            flying[delivery.subscription_id] += 1
            started += 1
        return started

    def wait_any(self, timeout: float) -> None:
        """Until a send finishes (a thread to start another), or `timeout` when none is in flight."""
        if self.in_flight:
            wait(self.in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
        else:
            time.sleep(timeout)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def _send_in_thread(delivery: Delivery, now: datetime | None, rng: random.Random | None) -> str:
    try:
        return send(delivery, now=now, rng=rng)
    finally:
        close_old_connections()


def deliver_due(*, now: datetime | None = None, rng: random.Random | None = None, rounds: int = 1000) -> Sent:
    """Dispatch the new events, then send what is due in this thread, until nothing due is left (or after
    `rounds` claims): for tests (in the test's transaction) and `run_worker --once`."""
    total = Sent()
    for _ in range(rounds):
        outbox.dispatch()
        claimed = claim(now=now or timezone.now(), limit=THREADS)
        if not claimed:
            break
        for delivery in claimed:
            outcome = send(delivery, now=now, rng=rng)
            setattr(total, outcome, getattr(total, outcome) + 1)
    return total
