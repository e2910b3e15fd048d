"""Slow, idle and malformed clients against a live gunicorn started as the README deploys it.

gunicorn runs with the repository's gunicorn.conf.py (its worker class reads requests in its event loop,
config/gunicorn_worker.py) on 127.0.0.1 with a SQLite database of its own in a temporary folder. Every
socket has a timeout, so no test here can hang: each is bounded by a few seconds.
"""

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.livehost import REPO, free_port, start_gunicorn, stop, wait_healthy

SLOW_CLIENTS = 50
READ_TIMEOUT = 3  # GUNICORN_REQUEST_READ_TIMEOUT for this server: short, so the test sees it act
FAILURE_LIMIT = 5  # API_AUTH_FAILURE_LIMIT for this server


@dataclass(frozen=True)
class Server:
    port: int
    token: str
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("slow-clients")
    env = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "GUNICORN_REQUEST_READ_TIMEOUT": str(READ_TIMEOUT),
        "API_AUTH_FAILURE_LIMIT": str(FAILURE_LIMIT),
        "LOG_LEVEL": "WARNING",
    }
    child_env = {**os.environ, **env}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=child_env, check=True, timeout=120
    )
    script = "from crm.services import create_source; print(create_source(name='Slow clients')[1])"
    made = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=REPO,
        env=child_env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    token = made.stdout.strip().splitlines()[-1]
    port = free_port(range(8300, 8400))
    log = folder / "gunicorn.log"
    # Two workers, the fewest the README's default gives; the pid in the access log shows who answered.
    proc = start_gunicorn(
        port=port, env=env, workers=2, extra_args=["--access-logformat", "pid=%(p)s %(s)s"], log=log
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", timeout=30, proc=proc)
        yield Server(port=port, token=token, log=log)
    finally:
        stop(proc)


def post_contact(server: Server, external_id: str, token: str | None = None) -> tuple[int, dict, float]:
    """One webhook POST on a fresh connection: (status, JSON body, seconds it took)."""
    body = json.dumps({"external_id": external_id, "message": "Call me back"})
    headers = {"Authorization": f"Bearer {token or server.token}", "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    started = time.monotonic()
    try:
        connection.request("POST", "/api/contacts/", body=body, headers=headers)
        response = connection.getresponse()
        payload, retry_after = json.loads(response.read()), response.getheader("Retry-After")
    finally:
        connection.close()
    return response.status, {**payload, "_retry_after": retry_after}, time.monotonic() - started


def slow_connections(port: int, count: int) -> list[socket.socket]:
    """Sockets that never finish their request: idle, half a request line, half the headers, half a body."""
    partial = [
        b"",
        b"POS",
        b"POST /api/contacts/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty",
        b"POST /api/contacts/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 400\r\n\r\n{"external_id": "slo',
    ]
    sockets = []
    for n in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if partial[n % len(partial)]:
            sock.sendall(partial[n % len(partial)])
        sockets.append(sock)
    return sockets


def test_a_webhook_is_answered_within_a_second_while_50_clients_stall(server):
    stalled = slow_connections(server.port, SLOW_CLIENTS)
    try:
        time.sleep(0.5)  # every stalled connection has been accepted by a worker by now
        for n in range(10):
            status, body, took = post_contact(server, f"fast-{n}")
            assert status == 201, body
            assert took < 1.0, f"request {n} took {took:.2f} s with {SLOW_CLIENTS} stalled clients"
    finally:
        for sock in stalled:
            sock.close()


def test_a_client_that_never_finishes_its_request_is_disconnected(server):
    stalled = slow_connections(server.port, 4)
    try:
        started = time.monotonic()
        for sock in stalled:
            sock.settimeout(READ_TIMEOUT + 5)
            assert sock.recv(1024) == b""  # closed by the server, without an answer
        assert time.monotonic() - started < READ_TIMEOUT + 3
    finally:
        for sock in stalled:
            sock.close()


def test_a_request_sent_in_pieces_within_the_time_limit_is_answered(server):
    body = b'{"external_id": "trickled"}'
    request = (
        b"POST /api/contacts/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {server.token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for start in range(0, len(request), 40):
            sock.sendall(request[start : start + 40])
            time.sleep(0.05)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201 "), answer


def test_a_malformed_request_gets_gunicorns_own_400(server):
    """Documented in docs/security.md: what a request that never reaches Django gets."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert b"Content-Type: text/html" in answer  # gunicorn's page, not the API's JSON


def test_a_body_over_the_limit_is_refused_before_it_is_sent(server):
    head = b"POST /api/contacts/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 70000\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2]) == {
        "errors": {"body": ["The body may be at most 65536 bytes."]}
    }


def test_a_client_expecting_100_continue_gets_it_then_its_answer(server):
    body = b'{"external_id": "expecting"}'
    head = (
        b"POST /api/contacts/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {server.token}\r\nContent-Length: {len(body)}\r\n".encode()
        + b"Expect: 100-continue\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = b""
        while b" 201 " not in answer and len(answer) < 65536:
            answer += sock.recv(65536) or b"!"  # a second 100 Continue (gunicorn's own) may come first
    assert b"HTTP/1.1 201 " in answer, answer


def test_failed_token_guesses_are_throttled_across_workers(server):
    """Guesses sent at once, so both workers answer them: the count lives in the database."""
    guesses = FAILURE_LIMIT + 5
    with ThreadPoolExecutor(max_workers=guesses) as pool:
        answers = list(
            pool.map(lambda n: post_contact(server, f"guess-{n}", token=f"wrong-{n}"), range(guesses))
        )
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [401] * FAILURE_LIMIT + [429] * 5
    throttled = next(body for status, body, _ in answers if status == 429)
    assert 0 < int(throttled["_retry_after"]) <= 300 and list(throttled) == ["errors", "_retry_after"]
    assert list(throttled["errors"]) == ["authorization"]
    # The right token is never throttled, even from the same address.
    assert post_contact(server, "after-guessing")[0] == 201
    answered_by = {
        line.split()[0] for line in server.log.read_text().splitlines() if line.endswith((" 401", " 429"))
    }
    assert len(answered_by) == 2, answered_by


def stuck_app(environ: dict, start_response) -> list[bytes]:
    """A WSGI app for the next test (gunicorn imports it from here): /stuck takes far too long."""
    if environ["PATH_INFO"] == "/stuck":
        time.sleep(60)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def read_response(sock: socket.socket) -> bytes:
    """One whole answer with a Content-Length (so that the next one on the connection is not mixed in)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"<closed>"
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
    )
    while len(body) < length:
        body += sock.recv(65536) or b"<closed>"
    return data


def worker_pid(port: int) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no http_proxy for 127.0.0.1
    with opener.open(f"http://127.0.0.1:{port}/", timeout=5) as response:
        return response.read().decode()


def test_a_request_stuck_past_the_timeout_gets_its_worker_replaced(tmp_path):
    """As with sync workers: gthread alone would keep a stuck thread's worker alive for ever."""
    port = free_port(range(8300, 8400))
    proc = start_gunicorn(
        port=port,
        env={"GUNICORN_TIMEOUT": "2"},
        workers=1,
        app="tests.test_slow_clients:stuck_app",
        log=tmp_path / "gunicorn.log",
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/", timeout=30, proc=proc)
        first_pid = worker_pid(port)
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(b"GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536) == b""  # the worker was killed, its connection with it
        assert time.monotonic() - started < 10
        wait_healthy(f"http://127.0.0.1:{port}/", timeout=30, proc=proc)
        assert worker_pid(port) not in (first_pid, "")  # a new worker
    finally:
        stop(proc)


def test_with_keep_alive_on_the_next_request_is_buffered_too(tmp_path):
    """GUNICORN_KEEPALIVE is off by default; with it on, a kept-alive connection's next request is read in
    the event loop like a new connection's, even when it arrives in pieces."""
    port = free_port(range(8300, 8400))
    proc = start_gunicorn(
        port=port,
        env={"GUNICORN_KEEPALIVE": "5"},
        workers=1,
        app="tests.test_slow_clients:stuck_app",
        log=tmp_path / "gunicorn.log",
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/", timeout=30, proc=proc)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            answers = []
            for _ in range(3):
                for piece in (b"GET / HT", b"TP/1.1\r\nHost: x\r\n", b"\r\n"):
                    sock.sendall(piece)
                    time.sleep(0.05)
                answers.append(read_response(sock))
        assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers), answers
        assert b"Connection: close" not in answers[0]
    finally:
        stop(proc)
