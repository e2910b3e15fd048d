"""Fault test: restart PostgreSQL under webhook traffic; nothing may be lost, doubled, or over the limit.

    python tests/fault_pg_restart.py            # needs a local PostgreSQL cluster it may restart (root)

It creates a fresh database (FAULT_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/leadflow_fault),
starts gunicorn with the production config, and lets several clients post contacts, each with its own
Idempotency-Key, while `pg_ctlcluster ... restart` runs once. A client that gets 503 (or loses its
connection) retries the same request with the same key until it gets an answer. Afterwards it checks:
every answered contact exists exactly once, nothing answered is lost, no operator is over its limit, no
external_id has two leads, every client that got 503 succeeded on retry, and /healthz is 200 again without
restarting gunicorn. Prints the counts; exits 1 on any violation.
"""

import argparse
import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

# Run as a script, so tests/ (this file's folder) is on sys.path.
from livehost import REPO, free_port, recreate_database, start_gunicorn, stop, wait_healthy

LIMITS = {"Fault A": 40, "Fault B": 30, "Fault C": 20}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=14.0, help="seconds of traffic")
    parser.add_argument("--restart-after", type=float, default=6.0, help="seconds into the traffic")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    url = os.environ.get("FAULT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadflow_fault")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "HTTPS": "false",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    recreate_database(url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True
    )

    import django

    django.setup()
    from crm.models import Operator, SourceOperatorWeight
    from crm.services import create_source

    source, token = create_source(name="Fault source")  # its token is shown only here (crm.secrets)
    for weight, (name, limit) in enumerate(LIMITS.items(), start=1):
        operator = Operator.objects.create(name=name, load_limit=limit)
        SourceOperatorWeight.objects.create(source=source, operator=operator, weight=weight)
    from django.db import connections

    connections.close_all()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_gunicorn(
        port=port, env=env, workers=args.workers, log=REPO / "artifacts" / "fault" / "gunicorn.log"
    )
    try:
        wait_healthy(f"{base}/healthz", proc=server)
        result = drive(port, token, args)
        try:
            wait_healthy(f"{base}/healthz", timeout=60, proc=server)
            healthy_again = True
        except RuntimeError:
            healthy_again = False
    finally:
        stop(server, timeout=30)
    return verify(result, healthy_again)


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.answers: dict[str, int] = {}  # idempotency key -> contact id
        self.gave_up: list[str] = []
        self.health: Counter = Counter()

    def add(self, **counts: int) -> None:
        with self.lock:
            self.counts.update(counts)


def drive(port: int, token: str, args: argparse.Namespace) -> Tally:
    tally = Tally()
    stop = threading.Event()
    restarted = threading.Event()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            key = str(uuid.uuid4())
            body = json.dumps({"external_id": f"customer-{(n * 7 + i) % 60}", "message": f"client {n} #{i}"})
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": key,
            }
            tally.add(sent=1)
            for attempt in range(200):
                try:
                    status, payload = request(port, "POST", "/api/contacts/", body.encode(), headers)
                except OSError:
                    status, payload = None, b""
                if status in (200, 201):
                    with tally.lock:
                        tally.answers[key] = json.loads(payload)["contact_id"]
                    tally.add(**{str(status): 1}, retried_ok=1 if attempt else 0)
                    break
                tally.add(**{"503" if status == 503 else f"other_{status}": 1})
                if status not in (503, None):
                    break  # a 4xx would be a bug in this script or the app; verify() reports it
                time.sleep(0.25)
            else:
                with tally.lock:
                    tally.gave_up.append(key)

    def health_poller() -> None:
        while not stop.is_set():
            try:
                tally.health[request(port, "GET", "/healthz")[0]] += 1
            except OSError:
                tally.health["no answer"] += 1
            time.sleep(0.1)

    def restart() -> None:
        time.sleep(args.restart_after)
        version = min(os.listdir("/etc/postgresql"))
        started = time.monotonic()
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tally.counts["restart_seconds_x10"] = round((time.monotonic() - started) * 10)
        restarted.set()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    threads += [threading.Thread(target=health_poller), threading.Thread(target=restart)]
    for t in threads:
        t.start()
    time.sleep(args.duration)
    stop.set()
    for t in threads:
        t.join()
    if not restarted.is_set():
        raise SystemExit("PostgreSQL was not restarted; the fault test proved nothing.")
    return tally


def verify(tally: Tally, healthy_again: bool) -> int:
    from django.db import connections
    from django.db.models import Count

    from crm.models import Contact, Lead, Operator

    connections.close_all()  # the restart killed the old connection
    answered = tally.answers
    stored = dict(
        Contact.objects.filter(idempotency_key__in=list(answered)).values_list("idempotency_key", "pk")
    )
    per_key = Contact.objects.exclude(idempotency_key="").values("idempotency_key").annotate(n=Count("pk"))
    doubled = [row for row in per_key if row["n"] > 1]
    lost = [key for key, contact_id in answered.items() if stored.get(key) != contact_id]
    over_limit = [
        (op.name, op.n, op.load_limit)
        for op in Operator.objects.annotate(n=Count("contacts"))
        if op.n > op.load_limit
    ]
    leads_per_id = Lead.objects.values("external_id").annotate(n=Count("pk")).filter(n__gt=1)
    unanswered_rows = Contact.objects.exclude(idempotency_key__in=list(answered)).count()

    c = tally.counts
    print(
        f"sent={c['sent']} 201={c['201']} replayed_200={c['200']} 503={c['503']} "
        f"connection_errors={c['other_None']} other={sum(v for k, v in c.items() if k.startswith('other_') and k != 'other_None')} "
        f"retried_ok={c['retried_ok']} gave_up={len(tally.gave_up)} lost={len(lost)} doubled={len(doubled)} "
        f"stored={Contact.objects.count()} assigned={Contact.objects.exclude(operator=None).count()} "
        f"capacity={sum(LIMITS.values())} restart_took={c['restart_seconds_x10'] / 10:.1f}s"
    )
    print(
        f"healthz during the run: {dict(tally.health)}; healthy again without a gunicorn restart: {healthy_again}"
    )
    failures = {
        "answered contacts missing or different in the database": lost,
        "idempotency keys stored twice": doubled,
        "operators over their limit": over_limit,
        "external ids with two leads": list(leads_per_id),
        "requests that never succeeded on retry": tally.gave_up,
        "contacts stored without any client getting an answer": unanswered_rows,
        "4xx/5xx other than 503": sum(
            v for k, v in c.items() if k.startswith("other_") and k != "other_None"
        ),
        "no 503 or connection error seen (the restart did not hit traffic)": c["503"] + c["other_None"] == 0,
        "/healthz not 200 again after the restart": not healthy_again,
    }
    failed = {what: detail for what, detail in failures.items() if detail}
    for what, detail in failed.items():
        print(f"FAIL: {what}: {detail if not isinstance(detail, list) else detail[:5]}")
    print("FAULT TEST PASSED" if not failed else "FAULT TEST FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.exit(main())
