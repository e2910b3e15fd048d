"""Outbound events benchmark: contacts posted through gunicorn with one subscription to a local receiver,
then delivered by `manage.py run_worker`; every event must arrive, each id once.

    python bench/bench_events.py [--contacts 10000] [--kill] [--database-url postgres://.../leadflow_bench]

It re-creates the database (its name must contain "bench"), makes a source with 20 operators and one
subscription to every event type, posts `--contacts` contacts to the webhook (gunicorn, 4 workers, 16
client threads) with no worker running, so that each contact's event waits in the outbox, then starts one
worker and measures how fast it delivers them all (events/s) to a receiver in this process, which counts
each event id. With `--kill` the worker is killed (SIGKILL) half-way and started again: then an event may
arrive twice (at least once), never not at all.
"""

import argparse
import collections
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--kill", action="store_true", help="kill the worker half-way and start it again")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/leadflow_bench")
    return parser.parse_args(argv)


class Counting:
    """The receiver: every POST's event id counted; answers 204 at once."""

    def __init__(self) -> None:
        self.ids: collections.Counter = collections.Counter()
        self.lock = threading.Lock()
        counting = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                event_id = json.loads(body)["id"]
                with counting.lock:
                    counting.ids[event_id] += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def received(self) -> tuple[int, int]:
        """(distinct ids, deliveries in all)."""
        with self.lock:
            return len(self.ids), sum(self.ids.values())


def post_all(url: str, token: str, count: int) -> float:
    """POST `count` new contacts with 16 threads; seconds taken."""
    parts = urlsplit(url)
    failures = collections.Counter()

    def post(n: int) -> None:
        body = json.dumps({"external_id": f"events-{n}", "message": "benchmark"})
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        connection.request("POST", parts.path, body=body, headers=headers)
        status = connection.getresponse().status
        connection.close()
        if status != 201:
            failures[status] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(post, range(count)))
    if failures:
        sys.exit(f"posting failed: {dict(failures)}")
    return time.monotonic() - started


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--every", "1"],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=open(REPO / "artifacts" / "bench" / "events-worker.log", "ab"),  # noqa: SIM115
        start_new_session=True,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": args.database_url,
        "DEBUG": "false",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "OUTBOUND_ALLOW_PRIVATE": "true",  # the receiver is on 127.0.0.1
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
    }
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    from bench.bench_intake import fresh_database

    fresh_database(args.database_url)
    import django

    django.setup()
    from django.db import connection

    from crm.models import Operator, SourceOperatorWeight
    from crm.services import create_source
    from events import services
    from events.choices import EventType
    from events.models import Event
    from tests.livehost import free_port, start_gunicorn, stop, wait_healthy

    receiver = Counting()
    source, token = create_source(name="Events bench")
    operators = Operator.objects.bulk_create(Operator(name=f"Op {i}", load_limit=10**9) for i in range(20))
    SourceOperatorWeight.objects.bulk_create(
        SourceOperatorWeight(source=source, operator=op) for op in operators
    )
    services.create_subscription(url=receiver.url, events=list(EventType.values))
    connection.close()

    print(f"Leadflow events benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"machine: {os.cpu_count()} cores; {args.contacts:,} contacts, one subscription to a local receiver"
    )
    port = free_port(range(8200, 8300))
    app = start_gunicorn(
        port=port, env=env, workers=4, log=REPO / "artifacts" / "bench" / "events-gunicorn.log"
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", timeout=60, proc=app)
        took = post_all(f"http://127.0.0.1:{port}/api/contacts/", token, args.contacts)
    finally:
        stop(app, timeout=30)
    events = Event.objects.count()
    connection.close()
    print(
        f"posted: {args.contacts:,} contacts in {took:.1f} s ({args.contacts / took:,.0f}/s); {events:,} events in the outbox"
    )

    started = time.monotonic()
    worker = start_worker(env)
    killed = False
    try:
        while receiver.received()[0] < events:
            if args.kill and not killed and receiver.received()[0] >= events // 2:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
                worker, killed = start_worker(env), True
            if time.monotonic() - started > 600:
                break
            time.sleep(0.05)
        took = time.monotonic() - started
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    distinct, total = receiver.received()
    duplicates = total - distinct
    print(
        f"delivered: {distinct:,} of {events:,} events in {took:.1f} s ({distinct / took:,.0f} events/s), "
        f"{duplicates:,} delivered twice" + (" (after the worker was killed half-way)" if killed else "")
    )
    good = distinct == events and (killed or duplicates == 0)
    print("OK" if good else "FAILED")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
