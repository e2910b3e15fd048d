"""A live server for scripts and tests that use the app over HTTP (fault tests, the benchmark, slow clients).

gunicorn runs with the repository's gunicorn.conf.py, from the repository root; bin/serve runs nginx in
front of it. Either runs in its own process group, so that stop() ends the server's processes and nothing
else.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent


def start_gunicorn(
    *,
    port: int,
    env: dict[str, str],
    workers: int = 4,
    app: str = "config.wsgi:application",
    extra_args: Sequence[str] = (),
    log: Path | None = None,
) -> subprocess.Popen:
    """Start gunicorn on 127.0.0.1:port; `env` is laid over this process's environment.

    Output goes to `log` (appended) when given, else to this process's stdout and stderr.
    """
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers), *extra_args, app]
    return _start(command, env=env, log=log)


def start_serve(*, env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    """Start bin/serve, the single-box production pair (nginx in front of gunicorn); `env` as above.

    bin/serve and both servers share one process group, so stop() ends all of them.
    """
    return _start([str(REPO / "bin" / "serve")], env=env, log=log)


def _start(command: list[str], *, env: dict[str, str], log: Path | None) -> subprocess.Popen:
    out = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "ab")  # noqa: SIM115 - the child keeps its own copy of the descriptor
    try:
        return subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,  # a Ctrl-C reaches only the caller, which then stops the server in order
        )
    finally:
        if out is not None:
            out.close()


def wait_healthy(url: str, *, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Poll `url` until it answers 200; RuntimeError after `timeout` seconds or when `proc` has exited."""
    # No proxies: an http_proxy in the environment must not stand between us and 127.0.0.1.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before {url} answered")
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no 200 from {url} within {timeout:.0f} s")


def stop(proc: subprocess.Popen, *, timeout: float = 10.0) -> None:
    """SIGTERM the process group (a graceful stop), then SIGKILL it if it is still there."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own group: the server's processes only
        proc.wait()


def free_port(ports: range | None = None) -> int:
    """A port free on 127.0.0.1: the first free one of `ports` when given, else one the system picks."""
    for port in ports or [0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError(f"no free port in {ports}")


def recreate_database(url: str) -> None:
    """PostgreSQL only: drop the URL's database (closing its sessions) and create it empty."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
