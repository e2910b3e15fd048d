"""Scale-out fault test: two app hosts behind nginx, both through PgBouncer in transaction mode.

    python tests/fault_scaleout.py       # as root, with PostgreSQL on 127.0.0.1:5432, pgbouncer, nginx, openssl

Everything runs on 127.0.0.1, on free ports from 8200-8299, in a fresh database
(SCALEOUT_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/leadflow_hscale):

    client --HTTPS--> nginx (deploy/nginx.conf with nginx-leadflow-common.conf, self-signed certificate)
                        --> gunicorn "host A", gunicorn "host B" (4 workers each, production settings)
                              --> PgBouncer (deploy/pgbouncer.ini, pool_mode = transaction,
                                  4 server connections for 8 workers and 2 drains) --> PostgreSQL

First it checks nginx's part: HTTP is redirected, a body over 64 KiB is refused (413 in JSON), and more
slow clients than there are workers never reach an app host (nginx buffers requests). Then clients post
a few thousand contacts through nginx, each from a loopback address of its own (nginx limits the rate per
address, and a channel is one address) and with its own Idempotency-Key, retrying on 503; alongside, one
Idempotency-Key is sent to both hosts and nginx at once, and one new external_id to both hosts at once,
over and over; `manage.py assign_unassigned --loop 1` runs with each host's settings. Operators are
full early on; capacity is added while the traffic runs (intake and drains race for it) and again after
it (only the drains can fill it). PgBouncer is stopped once mid-run and started again 2 s later; the
gunicorns are never restarted.

Checks: no operator over its limit (plain count(*) per operator), one lead per external_id, one contact
per Idempotency-Key, every 201 stored exactly once under the id it answered, nothing stored that no client
was answered for, the simultaneous sends agree, 5xx only as 503 with Retry-After while PgBouncer is
down (and some there, or the outage proved nothing), no connection errors, the hosts recover on their
own, the drains fill the capacity added last, and `manage.py check` accepts the hosts' settings but not
without DISABLE_SERVER_SIDE_CURSORS. Last, with both hosts stopped, nginx answers 502 in JSON with
Retry-After under /api/. Prints a summary line; exits 1 on any violation.

Without the drain command in the checkout it runs without drains and says so; with CI=true that fails.
"""

import argparse
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# Run as a script, so tests/ (this file's folder) is on sys.path.
from livehost import REPO, free_port, recreate_database, start_gunicorn, stop, wait_healthy

LIMITS = {"Scale A": 150, "Scale B": 100, "Scale C": 50}
RAISE_DURING = ("Scale C", 150)  # added at 2/3 of the traffic: intake and both drains race for it
RAISE_AFTER = ("Scale B", 100)  # added after the traffic: only the drains can fill it
CUSTOMERS = 400  # external ids the traffic spreads over, so leads are upserted concurrently
OUTAGE_SECONDS = 2.0
# A request in flight when PgBouncer comes back may still end in 503 a moment later.
RECOVERY_GRACE_SECONDS = 2.0
PORTS = range(8200, 8300)
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
API = "/api/contacts/"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=3000, help="contacts posted through nginx")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per host")
    args = parser.parse_args()
    started = time.monotonic()

    tools = {name: shutil.which(name, path=SBIN) for name in ("pgbouncer", "nginx", "openssl")}
    if missing := [name for name, path in tools.items() if path is None]:
        print(f"FAIL: {', '.join(missing)} not installed (Debian: apt-get install pgbouncer nginx openssl)")
        return 1
    with_drain = any(REPO.glob("*/management/commands/assign_unassigned.py"))
    if not with_drain:
        if os.environ.get("CI") == "true":
            print(
                "FAIL: CI=true but `manage.py assign_unassigned` is missing; the drain must run in this test."
            )
            return 1
        print("NOTE: `manage.py assign_unassigned` is not in this checkout yet: running without the drains.")

    run = REPO / "artifacts" / "scaleout"  # logs and the generated configuration, kept for a look afterwards
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    # PgBouncer refuses to run as root, so it runs as postgres, from a folder in /tmp that it can reach
    # whatever the checkout's permissions; nginx's unprivileged workers keep their temporary files there too.
    pg_user = "postgres" if os.geteuid() == 0 else None
    spool = Path(tempfile.mkdtemp(prefix="leadflow-hscale-"))
    spool.chmod(0o755)
    if pg_user:
        shutil.chown(spool, pg_user, pg_user)

    ports = pick_ports(5)
    direct_url = os.environ.get("SCALEOUT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadflow_hscale")
    db = urlsplit(direct_url)
    dbname = db.path.lstrip("/")
    pooled_url = f"postgres://{db.username}:{db.password or ''}@127.0.0.1:{ports.pgbouncer}/{dbname}"
    secret_key = secrets.token_urlsafe(50)
    direct_env = {
        "DATABASE_URL": direct_url,
        "SECRET_KEY": secret_key,
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    # What every app host runs with: production defaults (HTTPS on, trusting nginx's X-Forwarded-Proto)
    # and the settings PgBouncer's transaction mode needs.
    host_env = {
        **direct_env,
        "DATABASE_URL": pooled_url,
        "DATABASE_POOLER": "transaction",
        "DISABLE_SERVER_SIDE_CURSORS": "true",
        "CONN_MAX_AGE": "60",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
    }

    recreate_database(direct_url)
    # Migrations go straight to PostgreSQL, as docs/scale-out.md advises.
    manage("migrate", "--noinput", "-v0", env=direct_env)
    os.environ.update(direct_env)
    token = setup_routing()
    limits = {**LIMITS}

    write_pgbouncer_config(spool, ports, db, dbname)
    tls = make_certificate(run, tools["openssl"])
    write_nginx_config(run, ports, temp=spool / "nginx-temp")

    failures: dict[str, object] = {}
    procs: list[subprocess.Popen] = []
    drains: list[subprocess.Popen] = []
    pgbouncer = Service(lambda: start_pgbouncer(tools["pgbouncer"], spool, pg_user))
    try:
        pgbouncer.start()
        wait_database(pooled_url)
        failures.update(check_settings(host_env))
        hosts = [
            start_gunicorn(port=port, env=host_env, workers=args.workers, log=run / f"gunicorn-{name}.log")
            for name, port in (("a", ports.host_a), ("b", ports.host_b))
        ]
        procs += hosts
        for proc, port in zip(hosts, (ports.host_a, ports.host_b), strict=True):
            wait_healthy(f"http://127.0.0.1:{port}/healthz", proc=proc)
        procs.append(start_nginx(tools["nginx"], run))
        wait_https(ports.https, tls)
        if with_drain:
            drains = [start_drain(host_env, run / f"drain-{name}.log") for name in ("a", "b")]
        failures.update(check_nginx(ports, tls, token, slow_clients=2 * args.workers + 4))

        tally = drive(
            args, ports, tls, token, pgbouncer, limits, pooled_url=pooled_url, direct_url=direct_url
        )
        drained = fill_after_traffic(direct_url, limits) if with_drain else None

        failures["gunicorn restarted or gone (it must recover on its own)"] = [
            p.pid for p in hosts if p.poll() is not None
        ]
        failures["a drain exited during the run"] = [p.args for p in drains if p.poll() is not None]
        status, _, _ = Channel(ports.https, tls).get("/healthz")
        failures["/healthz through nginx not 200 after the outage"] = status != 200
        for proc in hosts:
            stop(proc)
        failures.update(check_no_host(ports, tls, token))
    finally:
        for proc in drains + procs:
            stop(proc)
        pgbouncer.stop()
        for name in ("pgbouncer.ini", "pgbouncer.log"):
            if (spool / name).exists():
                shutil.copy(spool / name, run)
        shutil.rmtree(spool)
    failures.update(verify(tally, direct_url, limits, drained))
    return report(tally, failures, direct_url, limits, drained, time.monotonic() - started)


@dataclass(frozen=True)
class Ports:
    pgbouncer: int
    host_a: int
    host_b: int
    https: int
    http: int


def pick_ports(count: int) -> Ports:
    chosen: list[int] = []
    for _ in range(count):
        chosen.append(free_port(range(max(chosen, default=PORTS.start - 1) + 1, PORTS.stop)))
    return Ports(*chosen)


def manage(*command: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=REPO,
        env={**os.environ, **env},
        check=check,
        capture_output=not check,
        text=True,
    )


def setup_routing() -> str:
    """One source with three operators; returns the source's webhook token."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db import connections

    from crm.models import Operator, SourceOperatorWeight
    from crm.services import create_source

    source, token = create_source(name="Scale-out source")
    for weight, (name, limit) in enumerate(LIMITS.items(), start=1):
        operator = Operator.objects.create(name=name, load_limit=limit)
        SourceOperatorWeight.objects.create(source=source, operator=operator, weight=weight)
    connections.close_all()
    return token


# --- the three services -----------------------------------------------------------------------------


def render_ini(text: str, changes: dict[str, dict[str, str | None]]) -> str:
    """The shipped ini with the given keys set per section (None drops the key; new keys are appended)."""
    pending = {section: dict(keys) for section, keys in changes.items()}
    out: list[str] = []
    section = ""

    def append_rest() -> None:
        out.extend(f"{key} = {value}" for key, value in pending.pop(section, {}).items() if value is not None)

    for line in text.splitlines():
        if match := re.match(r"\[(\w+)\]", line):
            append_rest()
            section = match[1]
        elif not line.startswith(";") and "=" in line:
            key = line.split("=", 1)[0].strip()
            if key in pending.get(section, {}):
                value = pending[section].pop(key)
                if value is not None:
                    out.append(f"{key} = {value}")
                continue
        out.append(line)
    append_rest()
    return "\n".join(out) + "\n"


def write_pgbouncer_config(spool: Path, ports: Ports, db, dbname: str) -> None:
    """deploy/pgbouncer.ini with local paths and a pool smaller than the 8 gunicorn workers."""
    ini = render_ini(
        (REPO / "deploy" / "pgbouncer.ini").read_text(),
        {
            "databases": {
                "leadflow": None,
                dbname: f"host={db.hostname} port={db.port or 5432} dbname={dbname}",
            },
            "pgbouncer": {
                "listen_addr": "127.0.0.1",
                "listen_port": str(ports.pgbouncer),
                "unix_socket_dir": "",
                "logfile": str(spool / "pgbouncer.log"),
                "pidfile": str(spool / "pgbouncer.pid"),
                # PostgreSQL trusts local connections here; the shipped file uses scram-sha-256.
                "auth_type": "trust",
                "auth_file": str(spool / "userlist.txt"),
                "default_pool_size": "3",
                "reserve_pool_size": "1",
                "max_db_connections": "4",
                "max_client_conn": "100",
                "stats_users": db.username,
            },
        },
    )
    (spool / "pgbouncer.ini").write_text(ini)
    (spool / "userlist.txt").write_text(f'"{db.username}" "{db.password or ""}"\n')


def start_pgbouncer(binary: str, spool: Path, user: str | None) -> subprocess.Popen:
    with open(spool / "pgbouncer.out", "ab") as out:
        return subprocess.Popen(
            [binary, str(spool / "pgbouncer.ini")],
            user=user,
            group=user,
            extra_groups=[] if user else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class Service:
    """A process that the test stops and starts again (PgBouncer)."""

    def __init__(self, start: Callable[[], subprocess.Popen]) -> None:
        self._start = start
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = self._start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # PgBouncer: immediate shutdown, connections cut
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_database(url: str, timeout: float = 15.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(url, connect_timeout=1).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def make_certificate(run: Path, openssl: str) -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1; the returned client context trusts exactly it."""
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", str(run / "tls.key"), "-out", str(run / "tls.crt"), "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return ssl.create_default_context(cafile=run / "tls.crt")


def write_nginx_config(run: Path, ports: Ports, *, temp: Path) -> None:
    """deploy/nginx.conf and its shared rules with local addresses and files, inside a minimal main
    configuration with the connection limits deploy/nginx.conf asks for."""
    site = (REPO / "deploy" / "nginx.conf").read_text()
    replacements = [
        ("server 10.0.0.11:8000", f"server 127.0.0.1:{ports.host_a}"),
        ("server 10.0.0.12:8000", f"server 127.0.0.1:{ports.host_b}"),
        ("listen 80;", f"listen 127.0.0.1:{ports.http};"),
        ("listen [::]:80;", ""),
        ("listen 443 ssl;", f"listen 127.0.0.1:{ports.https} ssl;"),
        ("listen [::]:443 ssl;", ""),
        ("/etc/letsencrypt/live/crm.example.com/fullchain.pem", str(run / "tls.crt")),
        ("/etc/letsencrypt/live/crm.example.com/privkey.pem", str(run / "tls.key")),
    ]
    for old, new in replacements:
        if old not in site:
            raise SystemExit(f"deploy/nginx.conf no longer contains {old!r}; update this test with it.")
        site = site.replace(old, new)
    (run / "leadflow.conf").write_text(site)
    # Where the site file includes it from (relative to the main configuration's folder, as in /etc/nginx).
    (run / "snippets").mkdir()
    shutil.copy(REPO / "deploy" / "nginx-leadflow-common.conf", run / "snippets" / "leadflow-common.conf")
    temp.mkdir()
    temp.chmod(0o777)  # nginx's workers run as an unprivileged user
    (run / "nginx.conf").write_text(
        f"pid {run}/nginx.pid;\n"
        f"error_log {run}/nginx-error.log warn;\n"
        "worker_processes 2;\n"
        "worker_rlimit_nofile 16384;\n"
        "events { worker_connections 8192; }\n"
        "http {\n"
        f"    access_log {run}/nginx-access.log;\n"
        + "".join(
            f"    {kind}_temp_path {temp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"    include {run}/leadflow.conf;\n"
        "}\n"
    )


def start_nginx(binary: str, run: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [binary, "-p", str(run), "-c", str(run / "nginx.conf"), "-e", str(run / "nginx-error.log")]
        + ["-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_https(port: int, tls: ssl.SSLContext, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while Channel(port, tls).get("/healthz")[0] != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"nginx on https://127.0.0.1:{port} did not answer 200 within {timeout:.0f} s")
        time.sleep(0.1)


def start_drain(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "assign_unassigned", "--loop", "1"],
            cwd=REPO,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


# --- HTTP ---------------------------------------------------------------------------------------------


class Channel:
    """One keep-alive connection to one entry point: nginx over TLS, or a gunicorn host directly, from a
    loopback address (nginx counts requests per address)."""

    def __init__(self, port: int, tls: ssl.SSLContext | None = None, *, source: str = "127.0.0.1") -> None:
        address = (source, 0)
        if tls is not None:
            self.conn = http.client.HTTPSConnection(
                "127.0.0.1", port, timeout=15, context=tls, source_address=address
            )
            self.headers = {}
        else:
            self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15, source_address=address)
            # Straight to a host, standing in for nginx: the app redirects anything not marked as HTTPS.
            self.headers = {"X-Forwarded-Proto": "https"}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """(status, headers, body); status None when the connection failed."""
        try:
            self.conn.request(method, path, body=body, headers={**self.headers, **(headers or {})})
            response = self.conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # the next request opens a new connection
            return None, {}, b""

    def get(self, path: str):
        return self.request("GET", path)


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: Counter = field(default_factory=Counter)
    answers: dict[str, int] = field(default_factory=dict)  # idempotency key -> contact id answered
    errors: list[tuple[float, int | None, bool]] = field(default_factory=list)  # (time, status, Retry-After)
    races: list[str] = field(default_factory=list)  # what a simultaneous send got wrong
    outage: tuple[float, float] = (0.0, 0.0)  # PgBouncer stopped .. accepting again (monotonic)
    progress: int = 0
    unfinished: int = 0
    seconds: float = 0.0  # how long the traffic ran

    def add(self, **counts: int) -> None:
        with self.lock:
            self.counts.update(counts)


def deliver(channel: Channel, tally: Tally, key: str, body: dict, token: str) -> tuple[int | None, dict]:
    """POST one contact until it gets an answer other than 503 (the sender's retry: same key, same body)."""
    data = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": key}
    tally.add(sent=1)
    deadline = time.monotonic() + 30
    while True:
        status, response_headers, payload = channel.request("POST", API, data, headers)
        if status is None or status >= 500:
            with tally.lock:
                tally.errors.append((time.monotonic(), status, "Retry-After" in response_headers))
            tally.add(**{str(status) if status else "connection_error": 1})
            if time.monotonic() > deadline:
                return status, {}
            time.sleep(0.2)
            continue
        answer = json.loads(payload) if payload else {}
        if status in (200, 201):
            with tally.lock:
                tally.answers[key] = answer["contact_id"]
        tally.add(**{str(status) if status in (200, 201) else f"other_{status}": 1})
        return status, answer


def at_once(
    sends: list[tuple[Channel, str, dict]], tally: Tally, token: str
) -> list[tuple[int | None, dict]]:
    """deliver() each (channel, key, body) from its own thread, all starting together."""
    barrier = threading.Barrier(len(sends))
    results: list[tuple[int | None, dict]] = [(None, {})] * len(sends)

    def run(i: int) -> None:
        barrier.wait()
        channel, key, body = sends[i]
        results[i] = deliver(channel, tally, key, body, token)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# --- the run ------------------------------------------------------------------------------------------


def check_settings(host_env: dict[str, str]) -> dict[str, object]:
    """`manage.py check` passes with the hosts' settings and refuses them without DISABLE_SERVER_SIDE_CURSORS."""
    good = manage("check", env=host_env, check=False)
    bad = manage("check", env={**host_env, "DISABLE_SERVER_SIDE_CURSORS": "false"}, check=False)
    refused = bad.returncode != 0 and "leadflow.E002" in bad.stderr
    if not refused and os.environ.get("CI") != "true":
        print(
            "NOTE: config/checks.py is not registered yet (INSTALLED_APPS lacks config.apps.ConfigAppConfig)."
        )
        refused = True
    return {
        "manage.py check fails with the hosts' settings": good.returncode and good.stderr.strip()[-500:],
        "manage.py check accepts a transaction pooler with server-side cursors": not refused,
    }


def check_nginx(ports: Ports, tls: ssl.SSLContext, token: str, *, slow_clients: int) -> dict[str, object]:
    """nginx's part: redirect to HTTPS, 64 KiB body limit, and slow clients held at nginx, not by workers."""
    status, headers, _ = Channel(ports.http).get("/healthz")
    redirected = status == 301 and headers.get("Location", "").startswith("https://127.0.0.1")
    big = json.dumps({"external_id": "big", "message": "x" * 70_000}).encode()
    too_big, big_headers, answer = Channel(ports.https, tls).request(
        "POST", API, big, {"Authorization": f"Bearer {token}"}
    )
    json_413 = (
        big_headers.get("Content-Type") == "application/json" and "body" in json.loads(answer)["errors"]
    )

    # More clients than there are workers send headers and the first bytes of a body, then stall. With
    # request buffering nginx opens no connection to an app host until a body is complete, so no worker
    # waits on a slow sender; without it each would reach a host at once.
    stalled = []
    for _ in range(slow_clients):
        sock = tls.wrap_socket(
            socket.create_connection(("127.0.0.1", ports.https)), server_hostname="127.0.0.1"
        )
        sock.sendall(
            f"POST {API} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"external_id": '.encode()
        )
        stalled.append(sock)
    time.sleep(0.5)
    reached = connections_to(ports.host_a, ports.host_b)
    quick = Channel(ports.https, tls).get("/healthz")[0]
    for sock in stalled:
        sock.close()  # the bodies never complete, so nothing of them reaches an app host
    print(
        f"nginx: http->https {status}, 70 KB body -> {too_big}, {slow_clients} stalled clients -> "
        f"{reached} connections to the app hosts, /healthz meanwhile {quick}"
    )
    return {
        "plain HTTP not redirected to HTTPS": not redirected,
        "a body over 64 KiB was not refused with 413": too_big != 413,
        "nginx's 413 under /api/ not in the API's JSON shape": not json_413,
        "stalled clients reached the app hosts (no request buffering?)": reached,
        "/healthz not answered while clients stalled": quick != 200,
    }


def check_no_host(ports: Ports, tls: ssl.SSLContext, token: str) -> dict[str, object]:
    """With every app host stopped, nginx answers 502 itself: in JSON with Retry-After under /api/."""
    status, headers, body = Channel(ports.https, tls).request(
        "POST", API, b'{"external_id": "nobody-home"}', {"Authorization": f"Bearer {token}"}
    )
    errors = json.loads(body).get("errors") if headers.get("Content-Type") == "application/json" else None
    page = Channel(ports.https, tls).get("/healthz")
    print(
        f"nginx: no app host -> /api/ {status} {body!r} Retry-After {headers.get('Retry-After')}, / {page[0]}"
    )
    return {
        "no app host: /api/ not answered 502": status != 502,
        "no app host: nginx's 502 under /api/ not JSON with Retry-After": not (
            errors and "server" in errors and headers.get("Retry-After")
        ),
        "no app host: outside /api/ not nginx's own 502 page": page[0] != 502,
    }


def connections_to(*ports: int) -> int:
    """Established TCP connections to these local ports (Linux: /proc/net/tcp)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "01" and int(local.split(":")[1], 16) in ports:  # 01: ESTABLISHED
            count += 1
    return count


def drive(
    args,
    ports: Ports,
    tls: ssl.SSLContext,
    token: str,
    pgbouncer: Service,
    limits: dict[str, int],
    *,
    pooled_url: str,
    direct_url: str,
) -> Tally:
    tally = Tally()
    done = threading.Event()
    per_client = args.contacts // args.clients
    total = per_client * args.clients

    def client(n: int) -> None:
        rng = random.Random(n)
        channel = Channel(ports.https, tls, source=f"127.0.10.{n + 1}")  # a channel of its own
        for i in range(per_client):
            if done.is_set():
                with tally.lock:
                    tally.unfinished += per_client - i
                return
            body = {"external_id": f"customer-{rng.randrange(CUSTOMERS)}", "message": f"client {n} #{i}"}
            deliver(channel, tally, f"c{n}-{i}-{uuid.uuid4()}", body, token)
            with tally.lock:
                tally.progress += 1

    def races() -> None:
        """Simultaneous sends, over and over while the traffic runs (some of them into the outage)."""
        a, b, lb = (
            Channel(ports.host_a),
            Channel(ports.host_b),
            Channel(ports.https, tls, source="127.0.11.1"),
        )
        extra = [Channel(ports.host_a), Channel(ports.host_b)]
        r = 0
        while not done.is_set() and r < 500:
            r += 1
            # One delivery retried to both hosts and nginx at once: one contact, one answer.
            key, body = f"race-key-{r}", {"external_id": f"customer-{r % CUSTOMERS}", "message": f"race {r}"}
            answers = at_once([(channel, key, body) for channel in (a, b, lb)], tally, token)
            ids = [answer.get("contact_id") for _, answer in answers]
            created = sum(1 for status, _ in answers if status == 201)
            if None in ids or any(i != ids[0] for i in ids) or created > 1:
                tally.races.append(f"key {key}: {[(s, x.get('contact_id')) for s, x in answers]}")
            # One new customer posted to both hosts at once (two deliveries): two contacts, one lead.
            ext = f"race-customer-{r}"
            sends = [
                (extra[0], f"race-a-{r}", {"external_id": ext}),
                (extra[1], f"race-b-{r}", {"external_id": ext}),
            ]
            answers = at_once(sends, tally, token)
            leads = [answer.get("lead_id") for _, answer in answers]
            if None in leads or leads[0] != leads[1]:
                tally.races.append(f"external id {ext}: {[(s, x.get('lead_id')) for s, x in answers]}")
        tally.counts["race_rounds"] = r

    def faults() -> None:
        """PgBouncer down once at 1/3 of the traffic; more capacity at 2/3."""
        while tally.progress < total // 3 and not done.is_set():
            time.sleep(0.02)
        down = time.monotonic()
        pgbouncer.stop()
        time.sleep(OUTAGE_SECONDS)
        pgbouncer.start()
        wait_database(pooled_url)
        tally.outage = (down, time.monotonic())
        while tally.progress < 2 * total // 3 and not done.is_set():
            time.sleep(0.02)
        raise_limit(direct_url, limits, *RAISE_DURING)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    side = [threading.Thread(target=races), threading.Thread(target=faults)]
    for thread in threads + side:
        thread.start()
    began = time.monotonic()
    deadline = began + 70
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    done.set()  # the races stop with the traffic; a client still running past the deadline gives up
    for thread in threads + side:
        thread.join()
    tally.seconds = time.monotonic() - began
    return tally


def raise_limit(url: str, limits: dict[str, int], name: str, extra: int) -> None:
    """A supervisor adds capacity (plain SQL, so only the drains and new contacts can use it)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE crm_operator SET load_limit = load_limit + %s WHERE name = %s", [extra, name])
    limits[name] += extra


def loads(url: str) -> dict[str, int]:
    """Each operator's load, counted the plainest way: its contacts in the last 24 hours."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT o.name, count(c.id) FROM crm_operator o LEFT JOIN crm_contact c ON c.operator_id = o.id "
            "AND c.created_at > now() - interval '24 hours' GROUP BY o.name"
        ).fetchall()
    return dict(rows)


def fill_after_traffic(url: str, limits: dict[str, int], timeout: float = 15.0) -> int:
    """Add capacity once the traffic is over and wait for the drains to fill it; returns how many they took."""
    before = sum(loads(url).values())
    raise_limit(url, limits, *RAISE_AFTER)
    deadline = time.monotonic() + timeout
    while sum(loads(url).values()) < sum(limits.values()) and time.monotonic() < deadline:
        time.sleep(0.25)
    return sum(loads(url).values()) - before


def verify(tally: Tally, url: str, limits: dict[str, int], drained: int | None) -> dict[str, object]:
    import psycopg

    with psycopg.connect(url) as conn:
        per_operator = dict(
            conn.execute(
                "SELECT operator_id, count(*) FROM crm_contact WHERE operator_id IS NOT NULL "
                "AND created_at > now() - interval '24 hours' GROUP BY operator_id"
            ).fetchall()
        )
        limit_of = dict(conn.execute("SELECT id, load_limit FROM crm_operator").fetchall())
        two_leads = conn.execute(
            "SELECT external_id, count(*) FROM crm_lead GROUP BY external_id HAVING count(*) > 1"
        ).fetchall()
        two_contacts = conn.execute(
            "SELECT idempotency_key, count(*) FROM crm_contact WHERE idempotency_key <> '' "
            "GROUP BY source_id, idempotency_key HAVING count(*) > 1"
        ).fetchall()
        stored = dict(conn.execute("SELECT idempotency_key, id FROM crm_contact").fetchall())
    start, end = tally.outage
    outside = [
        (round(t - start, 2), s)
        for t, s, _ in tally.errors
        if s == 503 and not start <= t <= end + RECOVERY_GRACE_SECONDS
    ]
    return {
        "operators over their limit (id, load, limit)": [
            (op, n, limit_of[op]) for op, n in per_operator.items() if n > limit_of[op]
        ],
        "external ids with two leads": two_leads,
        "idempotency keys stored twice": two_contacts,
        "answered contacts missing or stored under another id (key, answered, stored)": [
            (key, contact_id, stored.get(key))
            for key, contact_id in tally.answers.items()
            if stored.get(key) != contact_id
        ],
        "contacts stored that no client got an answer for": [
            key for key in stored if key not in tally.answers
        ],
        "simultaneous sends that disagree": tally.races,
        "5xx other than 503": [
            (s, round(t - start, 2)) for t, s, _ in tally.errors if s is not None and s != 503
        ],
        "503 outside PgBouncer's outage (seconds after it began, status)": outside,
        "503 without Retry-After": sum(
            1 for _, s, retry_after in tally.errors if s == 503 and not retry_after
        ),
        "connection errors (nothing but PgBouncer went down)": sum(
            1 for _, s, _ in tally.errors if s is None
        ),
        "other answers (4xx)": {k: v for k, v in tally.counts.items() if k.startswith("other_")},
        "no 503 during the outage (it proved nothing)": tally.counts["503"] == 0,
        "PgBouncer was not restarted": end == 0.0,
        "clients that did not finish in time": tally.unfinished,
        "the drains did not fill the capacity added after the traffic (artifacts/scaleout/drain-*.log)": drained
        is not None
        and sum(per_operator.values()) < sum(limits.values()),
    }


def report(
    tally: Tally, failures: dict, url: str, limits: dict[str, int], drained: int | None, took: float
) -> int:
    c = tally.counts
    load = loads(url)
    start, end = tally.outage
    seen = [t - start for t, s, _ in tally.errors if s == 503]
    print(
        f"sent={c['sent']} 201={c['201']} replayed_200={c['200']} 503={c['503']} "
        f"connection_errors={c['connection_error']} answered={len(tally.answers)} race_rounds={c['race_rounds']} "
        f"assigned={sum(load.values())} capacity={sum(limits.values())} "
        f"drained_after_traffic={'-' if drained is None else drained} "
        f"pgbouncer_down={end - start:.1f}s 503_from={min(seen, default=0):+.2f}s 503_until={max(seen, default=0):+.2f}s "
        f"traffic={tally.seconds:.1f}s ({c['sent'] / tally.seconds:.0f} requests/s) took={took:.0f}s"
    )
    print("loads: " + ", ".join(f"{name} {load[name]}/{limits[name]}" for name in sorted(limits)))
    failed = {what: detail for what, detail in failures.items() if detail}
    for what, detail in failed.items():
        print(f"FAIL: {what}: {detail[:5] if isinstance(detail, list) else detail}")
    print("SCALE-OUT TEST PASSED" if not failed else "SCALE-OUT TEST FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
