"""gunicorn for the benchmark: the production config (gunicorn.conf.py) on 127.0.0.1, always stopped again."""

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings


@dataclass(frozen=True)
class Server:
    base_url: str
    process: subprocess.Popen
    log_path: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(*, port: int, workers: int) -> dict[str, str]:
    """This process's environment (the same DATABASE_URL and friends) plus the benchmark's overrides."""
    env = dict(os.environ)
    env.update(
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(workers),
        DEBUG="false",
        HTTPS="false",  # plain HTTP on 127.0.0.1: no redirect to https, no secure-only cookies
        BENCH_FLOOR="true",
        GUNICORN_ACCESS_LOG="-",  # the production default, and scan_log counts the statuses in it
    )
    # With DEBUG off the app refuses to start without a key; any key will do for a benchmark.
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = secrets.token_urlsafe(50)
    return env


@contextlib.contextmanager
def gunicorn(*, workers: int, log_path: Path, port: int = 0, ready_timeout: float = 60) -> Iterator[Server]:
    """Start `gunicorn -c gunicorn.conf.py` from the project folder, wait for /healthz, stop it on exit.

    Its own session (start_new_session): a Ctrl-C in the terminal reaches only the bench command, which
    then stops gunicorn in order (SIGTERM, wait) instead of leaving workers behind.
    """
    port = port or free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=settings.BASE_DIR,
            env=server_env(port=port, workers=workers),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(base_url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        wait_until_healthy(server, timeout=ready_timeout)
        yield server
    finally:
        stop(process)


def wait_until_healthy(server: Server, *, timeout: float) -> None:
    # No proxies: an http_proxy in the environment must not stand between us and 127.0.0.1.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited with {server.process.returncode}; the end of {server.log_path}:\n"
                f"{tail(server.log_path)}"
            )
        try:
            with opener.open(f"{server.base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn gave no 200 on /healthz within {timeout:.0f} s; see {server.log_path}")


def stop(process: subprocess.Popen, *, timeout: float = 40) -> None:
    """SIGTERM (gunicorn's graceful stop: workers finish their request), then wait; SIGKILL only if stuck."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # its own session: the master and its workers only
        process.wait()


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass(frozen=True)
class LogFindings:
    """What gunicorn's log says about one stretch of the run (from a byte offset to the end)."""

    statuses: dict[str, int]  # status code -> access-log lines
    tracebacks: int
    database_locked: int
    worker_timeouts: int
    workers_booted: int

    def as_dict(self) -> dict:
        return asdict(self)


# gunicorn.conf.py's access_log_format: '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
ACCESS_LINE = re.compile(r'"[A-Z]+ \S+ HTTP/[\d.]+" (\d{3}) ')


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def scan_log(path: Path, *, since: int = 0) -> LogFindings:
    with open(path, "rb") as log:
        log.seek(since)
        text = log.read().decode("utf-8", "replace")
    statuses: dict[str, int] = {}
    for match in ACCESS_LINE.finditer(text):
        statuses[match[1]] = statuses.get(match[1], 0) + 1
    return LogFindings(
        statuses=dict(sorted(statuses.items())),
        tracebacks=text.count("Traceback (most recent call last)"),
        database_locked=text.count("database is locked"),
        worker_timeouts=text.count("WORKER TIMEOUT"),
        workers_booted=text.count("Booting worker"),
    )
