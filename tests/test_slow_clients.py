"""Slow, idle and flooding clients against the production pair bin/serve runs: nginx in front of gunicorn.

bin/serve runs with production settings (HTTPS=false: plain HTTP on 127.0.0.1), two sync workers and a
SQLite database of its own in a temporary folder; nginx's rules are the repository's
(deploy/nginx-leadflow-common.conf), only the rate per address is lowered so that a test can exceed it.
Each test's clients come from loopback addresses of their own (127.0.x.y), because nginx counts per
address. Every socket has a timeout, so no test here can hang.

Marked `serve`: they run once, in the SQLite pass (conftest skips them when the suite runs on
PostgreSQL). Without nginx they are skipped, and fail instead under CI=true (.ci/run installs nginx).
"""

import http.client
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from distribution.webhook import MAX_BODY_BYTES
from tests.livehost import REPO, free_port, start_serve, stop, wait_healthy

DEPLOY = REPO / "deploy"
COMMON = (DEPLOY / "nginx-leadflow-common.conf").read_text()
INCLUDE_COMMON = "include snippets/leadflow-common.conf;"
FAILURE_LIMIT = 5  # API_AUTH_FAILURE_LIMIT for this server
STALLED_UPLOADS = 50
UNREAD_ANSWERS = 8  # clients that never read a large answer: four times the workers
IDLE_SOCKETS = 5_000
# What a client that does not read is sent must exceed what the kernel takes off nginx's hands: on
# loopback a connection's send buffer grows to the sysctl's maximum (4 MB by default), which swallows the
# Swagger UI's 1.5 MB script whole. So such a client asks for the largest static file (ReDoc's source
# map, 3.3 MB) on one connection as often as it takes to send twice that maximum.
SEND_BUFFER_MAX = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])


def directive(name: str, text: str = COMMON) -> str:
    """The value of a directive written once in an nginx file (comments are skipped)."""
    values = re.findall(rf"^\s*{name}\s+([^;]+);", text, re.MULTILINE)
    assert len(values) == 1, f"{name}: {values}"
    return values[0]


def seconds(name: str) -> int:
    return int(directive(name).removesuffix("s"))


BURST = int(re.search(r"\bburst=(\d+)", directive("limit_req"))[1])


def nginx_size(value: str) -> int:
    """An nginx size in bytes: 65536, 64k, 1m."""
    unit = {"k": 1024, "m": 1024 * 1024}.get(value[-1].lower())
    return int(value[:-1]) * unit if unit else int(value)


def with_common_rules(name: str) -> str:
    """A deploy/ file with the shared rules in place of its include, as nginx reads it."""
    text = (DEPLOY / name).read_text()
    assert text.count(INCLUDE_COMMON) == 1, f"deploy/{name} must include the shared rules once"
    return text.replace(INCLUDE_COMMON, COMMON)


# --- the configuration, read as files (both passes: no server) ----------------------------------------


@pytest.mark.parametrize("name", ["nginx.conf", "nginx-single.conf.template"])
def test_nginx_refuses_exactly_what_the_webhook_refuses(name):
    """nginx is not Python: its body limit is checked against distribution.webhook.MAX_BODY_BYTES here."""
    text = with_common_rules(name)
    sizes = re.findall(r"^\s*client_max_body_size\s+(\w+);", text, re.MULTILINE)
    assert [nginx_size(size) for size in sizes] == [MAX_BODY_BYTES]
    # nginx's own 413 under /api/ says what the app's says.
    assert f'"The body may be at most {MAX_BODY_BYTES} bytes."' in text


def test_bin_serve_limits_the_rate_as_the_several_host_file_does():
    shipped = re.search(r"zone=leadflow_rate:\w+ rate=(\S+);", (DEPLOY / "nginx.conf").read_text())[1]
    default = re.search(r'NGINX_RATE_LIMIT:-([^}"]+)}', (REPO / "bin" / "serve").read_text())[1]
    assert default == shipped


# --- the production pair -------------------------------------------------------------------------------


def tool_or_skip(name: str) -> str:
    """The path of a Debian tool these tests need (nginx, openssl): skipped without it, failed under CI."""
    path = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if path:
        return path
    missing = f"{name} is not installed (apt-get install {name}; .ci/run does it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {missing}")
    pytest.skip(missing)


def two_ports() -> tuple[int, int]:
    """Ports for nginx and gunicorn, picked by the system: bin/serve binds them seconds later (after
    migrate and collectstatic), and other test runs on this box take the first free port of fixed ranges."""
    port = free_port()
    while (app_port := free_port()) == port:
        pass
    return port, app_port


@dataclass(frozen=True)
class Server:
    port: int
    app_port: int  # gunicorn's, on 127.0.0.1
    token: str
    log: Path
    large_file: str  # the URL of the largest static file
    large_file_bytes: int


def serve_env(folder: Path, **settings: str) -> dict[str, str]:
    """bin/serve's environment: production settings on a database and folders of the test's own."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "STATIC_ROOT": str(folder / "static"),
        "TMPDIR": str(folder),  # bin/serve's runtime folder goes in here
        "LISTEN_ADDRESS": "127.0.0.1",
        "GUNICORN_WORKERS": "2",
        "LOG_LEVEL": "WARNING",
        **settings,
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tool_or_skip("nginx")
    folder = tmp_path_factory.mktemp("serve")
    port, app_port = two_ports()
    env = serve_env(
        folder,
        PORT=str(port),
        GUNICORN_BIND=f"127.0.0.1:{app_port}",
        # One request a minute: a burst is never refilled while the tests run, so the rate test can
        # count exactly what the burst lets through.
        NGINX_RATE_LIMIT="1r/m",
        API_AUTH_FAILURE_LIMIT=str(FAILURE_LIMIT),
        # The pid in the access log shows which worker answered.
        GUNICORN_CMD_ARGS="--access-logformat 'pid=%(p)s %(s)s'",
    )
    log = folder / "serve.log"
    proc = start_serve(env=env, log=log)
    try:
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz", timeout=120, proc=proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; bin/serve's log ends with:\n{log.read_text()[-3000:]}") from None
        script = "from crm.services import create_source; print(create_source(name='Slow clients')[1])"
        made = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=REPO,
            env={**os.environ, **env},
            check=True,
            timeout=60,
            capture_output=True,
            text=True,
        )
        files = [f for f in (folder / "static").rglob("*") if f.is_file() and f.suffix != ".gz"]
        largest = max(files, key=lambda f: f.stat().st_size)
        yield Server(
            port=port,
            app_port=app_port,
            token=made.stdout.strip().splitlines()[-1],
            log=log,
            large_file=f"/static/{largest.relative_to(folder / 'static')}",
            large_file_bytes=largest.stat().st_size,
        )
    finally:
        stop(proc)
    # nginx gives up on a request it cannot handle (a temporary file it cannot write, say) and says so only
    # in its error log, at these levels; a test could pass because of it.
    assert not re.findall(r"^.*\[(?:crit|alert|emerg)\].*$", log.read_text(), re.MULTILINE)


def connect(server: Server, source: str, *, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(5)
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", server.port))
    return sock


def http_from(server: Server, source: str) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=5, source_address=(source, 0))


def post_contact(
    server: Server, external_id: str, *, source: str, token: str | None = None, body: bytes | None = None
) -> tuple[int, dict, float]:
    """One webhook POST on a fresh connection from `source`: (status, JSON body, seconds it took)."""
    body = body or json.dumps({"external_id": external_id, "message": "Call me back"}).encode()
    headers = {"Authorization": f"Bearer {token or server.token}", "Content-Type": "application/json"}
    connection = http_from(server, source)
    started = time.monotonic()
    try:
        connection.request("POST", "/api/contacts/", body=body, headers=headers)
        response = connection.getresponse()
        payload, retry_after = json.loads(response.read()), response.getheader("Retry-After")
    finally:
        connection.close()
    return response.status, {**payload, "_retry_after": retry_after}, time.monotonic() - started


def assert_intake_is_quick(server: Server, *, source: str, what: str) -> None:
    for n in range(10):
        status, body, took = post_contact(server, f"{source}-{n}", source=source)
        assert status == 201, body
        assert took < 1.0, f"request {n} took {took:.2f} s with {what}"


def stalled_upload(server: Server, source: str) -> socket.socket:
    """Headers and the first bytes of a 1,000-byte body, then nothing."""
    sock = connect(server, source)
    sock.sendall(
        f"POST /api/contacts/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {server.token}\r\n".encode()
        + b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"external_id": "slo'
    )
    return sock


def large_answers(server: Server) -> int:
    """How many times a client that does not read asks for the large file."""
    return 2 * SEND_BUFFER_MAX // server.large_file_bytes + 1


def unread_answer(server: Server, source: str) -> socket.socket:
    """Asks for large answers (pipelined on one connection) and never reads a byte of them (a receive
    buffer of 4 KiB fills at once)."""
    sock = connect(server, source, receive_buffer=4096)
    request = f"GET {server.large_file} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    sock.sendall(request * large_answers(server))
    return sock


def read_all(sock: socket.socket, size: int) -> int:
    """Read at least `size` bytes, or up to the end of the connection; how many came."""
    received, deadline = 0, time.monotonic() + 20
    while received < size and time.monotonic() < deadline:
        data = sock.recv(1 << 20)
        if not data:
            break
        received += len(data)
    return received


def connections_to(port: int) -> int:
    """Established TCP connections accepted on this local port (Linux: /proc/net/tcp)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "01" and int(local.split(":")[1], 16) == port:  # 01: ESTABLISHED
            count += 1
    return count


def established(sock: socket.socket) -> bool:
    """Whether the server still holds this connection (Linux's TCP_INFO: tcpi_state 1 is ESTABLISHED)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] == 1


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


@pytest.mark.own_database
def test_a_webhook_is_answered_within_a_second_while_50_uploads_stall(server):
    # From five addresses, ten each: under the per-address limit of requests in progress, so that
    # buffering, not a refusal, is what keeps them away from the workers.
    stalled = [stalled_upload(server, f"127.0.1.{1 + n % 5}") for n in range(STALLED_UPLOADS)]
    try:
        time.sleep(0.5)
        assert connections_to(server.app_port) == 0, "a stalled upload reached gunicorn"
        assert all(established(sock) for sock in stalled)  # held by nginx, neither refused nor dropped
        assert_intake_is_quick(server, source="127.0.1.100", what=f"{STALLED_UPLOADS} stalled uploads")
    finally:
        close_all(stalled)


@pytest.mark.own_database
def test_clients_that_never_read_a_large_answer_do_not_stall_the_intake(server):
    unread = [unread_answer(server, "127.0.2.1") for _ in range(UNREAD_ANSWERS)]
    try:
        time.sleep(1.0)  # nginx has taken every answer from the workers by now
        assert connections_to(server.app_port) == 0, "a worker is still sending a large answer"
        assert all(established(sock) for sock in unread)
        assert_intake_is_quick(server, source="127.0.2.100", what=f"{UNREAD_ANSWERS} clients not reading")
        # nginx kept every answer it took: a client that starts reading gets all of them.
        expected = large_answers(server) * server.large_file_bytes
        assert read_all(unread[0], expected) >= expected
    finally:
        close_all(unread)


@pytest.mark.own_database
def test_5000_idle_sockets_do_not_slow_a_normal_request(server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = IDLE_SOCKETS + 1_000  # and the test's own files
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            reason = f"the open-files hard limit ({hard}) is below the {needed} this test needs"
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true: {reason}")
            pytest.skip(reason)
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    idle: list[socket.socket] = []
    try:
        for n in range(IDLE_SOCKETS):
            idle.append(connect(server, f"127.0.3.{1 + n % 10}"))
        time.sleep(0.5)
        assert_intake_is_quick(server, source="127.0.3.100", what=f"{IDLE_SOCKETS} idle sockets")
        assert all(established(sock) for sock in idle[::50])  # none was refused or dropped meanwhile
    finally:
        close_all(idle)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.own_database
def test_stalled_idle_and_non_reading_clients_are_dropped_after_their_timeout(server):
    timeouts = {
        "idle": seconds("client_header_timeout"),
        "stalled upload": seconds("client_body_timeout"),
        "not reading": seconds("send_timeout"),
    }
    clients = {
        "idle": connect(server, "127.0.4.1"),
        "stalled upload": stalled_upload(server, "127.0.4.2"),
        "not reading": unread_answer(server, "127.0.4.3"),
    }
    started, dropped = time.monotonic(), {}
    try:
        while len(dropped) < len(clients) and time.monotonic() - started < max(timeouts.values()) + 5:
            for what, sock in clients.items():
                if what not in dropped and not established(sock):
                    dropped[what] = time.monotonic() - started
            time.sleep(0.1)
    finally:
        close_all(list(clients.values()))
    assert dropped.keys() == clients.keys(), f"still connected: {set(clients) - set(dropped)}"
    for what, after in dropped.items():
        assert timeouts[what] - 1 <= after <= timeouts[what] + 4, f"{what}: dropped after {after:.1f} s"


@pytest.mark.own_database
def test_a_body_over_64_kib_gets_a_json_413_before_it_is_sent(server):
    head = f"POST /api/contacts/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    with connect(server, "127.0.5.1") as sock:
        sock.sendall(head.encode())
        answer = sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ") and b"Content-Type: application/json" in head, answer
    assert json.loads(body) == {"errors": {"body": [f"The body may be at most {MAX_BODY_BYTES} bytes."]}}


@pytest.mark.own_database
def test_nginx_refuses_in_the_language_the_client_asks_for_first(server):
    """nginx's own answers follow Accept-Language as the app's do (config/nginx.py writes them)."""
    head = (
        f"POST /api/contacts/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Language: ru-RU,ru;q=0.9,en;q=0.8\r\n"
        f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    )
    with connect(server, "127.0.5.3") as sock:
        sock.sendall(head.encode())
        answer = sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ") and b"Content-Type: application/json" in head, answer
    assert json.loads(body) == {"errors": {"body": [f"Тело запроса — не больше {MAX_BODY_BYTES} байт."]}}


@pytest.mark.own_database
def test_a_body_of_exactly_64_kib_reaches_the_app(server):
    padding = MAX_BODY_BYTES - len(json.dumps({"external_id": "full", "message": ""}))
    body = json.dumps({"external_id": "full", "message": "x" * padding}).encode()
    assert len(body) == MAX_BODY_BYTES
    status, answer, _ = post_contact(server, "full", source="127.0.5.2", body=body)
    assert status == 400 and list(answer["errors"]) == ["message"]  # the app's own check: too long


@pytest.mark.own_database
def test_an_address_over_its_rate_gets_a_json_429_and_others_do_not(server):
    connection = http_from(server, "127.0.6.1")
    try:
        statuses = []
        for _ in range(BURST + 1):  # the burst on top of the one request the rate allows
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        connection.close()
    assert statuses == [200] * (BURST + 1)
    status, body, _ = post_contact(server, "flood", source="127.0.6.1")
    assert status == 429, body
    assert body == {
        "errors": {"request": ["Too many requests from this address; try again in a second."]},
        "_retry_after": "1",
    }
    assert post_contact(server, "flood", source="127.0.6.2")[0] == 201  # another address is not limited


@pytest.mark.own_database
def test_failed_token_guesses_are_throttled_across_workers(server):
    """Guesses sent at once, so both workers answer them: the app counts them in the database, per the
    client's address that nginx passes on (X-Forwarded-For)."""
    guesses = FAILURE_LIMIT + 5
    with ThreadPoolExecutor(max_workers=guesses) as pool:
        answers = list(
            pool.map(
                lambda n: post_contact(server, f"guess-{n}", source="127.0.7.1", token=f"wrong-{n}"),
                range(guesses),
            )
        )
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [401] * FAILURE_LIMIT + [429] * 5
    throttled = next(body for status, body, _ in answers if status == 429)
    assert 0 < int(throttled["_retry_after"]) <= 300 and list(throttled) == ["errors", "_retry_after"]
    assert list(throttled["errors"]) == ["authorization"]
    # The right token is never throttled, even from the same address; other addresses are not counted.
    assert post_contact(server, "after-guessing", source="127.0.7.1")[0] == 201
    assert post_contact(server, "guess-1", source="127.0.7.2", token="wrong")[0] == 401
    answered_by = {
        line.split()[0]
        for line in server.log.read_text().splitlines()
        if line.startswith("pid=") and line.endswith((" 401", " 429"))
    }
    assert len(answered_by) == 2, answered_by


@pytest.mark.own_database
def test_a_malformed_request_gets_nginxs_own_400(server):
    """Documented in docs/security.md: what a request that never reaches Django gets."""
    with connect(server, "127.0.8.1") as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert b"Content-Type: text/html" in answer  # nginx's page, not the API's JSON


@pytest.mark.own_database
def test_a_form_post_through_nginx_passes_the_csrf_origin_check(server):
    """Django compares a form's Origin with the Host, port included, so nginx must pass the port on."""
    base = f"http://127.0.0.1:{server.port}"
    connection = http_from(server, "127.0.8.2")
    try:
        connection.request("GET", "/accounts/login/")
        response = connection.getresponse()
        page = response.read().decode()
        cookie = response.getheader("Set-Cookie").split(";")[0]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
        form = f"csrfmiddlewaretoken={token}&username=nobody&password=wrong"
        headers = {"Cookie": cookie, "Origin": base, "Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", "/accounts/login/", body=form, headers=headers)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 200  # the form again, with its error; a CSRF failure would be 403


# --- bin/serve itself ----------------------------------------------------------------------------------


def run_serve(env: dict[str, str], *, unset: str = "") -> subprocess.CompletedProcess:
    """bin/serve run to its end (each of these tests expects a refusal)."""
    return subprocess.run(
        [REPO / "bin" / "serve"],
        cwd=REPO,
        env={k: v for k, v in {**os.environ, **env}.items() if k != unset},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.own_database
def test_without_nginx_bin_serve_says_how_to_install_it():
    result = run_serve({"NGINX": "/nonexistent/nginx"})
    assert result.returncode == 1 and "apt-get install nginx" in result.stderr, result.stderr


@pytest.mark.own_database
def test_bin_serve_refuses_plain_http_with_production_https(tmp_path):
    result = run_serve({**serve_env(tmp_path), "HTTPS": "true", "NGINX": "/bin/true"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "TLS_CERTIFICATE" in result.stderr and "HTTPS=false" in result.stderr
    assert not (tmp_path / "db.sqlite3").exists()  # refused before it touched anything


@pytest.mark.own_database
def test_bin_serve_refuses_to_start_without_a_secret_key(tmp_path):
    if re.search(r"^SECRET_KEY=.", (REPO / ".env").read_text() if (REPO / ".env").exists() else "", re.M):
        pytest.skip(".env in the checkout has a SECRET_KEY, which the app (rightly) takes")
    result = run_serve({**serve_env(tmp_path), "NGINX": "/bin/true"}, unset="SECRET_KEY")
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("bin/serve: SECRET_KEY is not set."), result.stderr  # the app's own words


@pytest.mark.own_database
def test_with_a_certificate_it_serves_https_and_ctrl_c_stops_both_and_cleans_up(tmp_path):
    tool_or_skip("nginx")
    openssl = tool_or_skip("openssl")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", str(tmp_path / "tls.key"), "-out", str(tmp_path / "tls.crt"), "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    port, app_port = two_ports()
    env = serve_env(
        tmp_path,
        HTTPS="true",  # the production default: the app trusts X-Forwarded-Proto from nginx
        PORT=str(port),
        GUNICORN_BIND=f"127.0.0.1:{app_port}",
        TLS_CERTIFICATE=str(tmp_path / "tls.crt"),
        TLS_CERTIFICATE_KEY=str(tmp_path / "tls.key"),
    )
    tls = ssl.create_default_context(cafile=tmp_path / "tls.crt")
    proc = start_serve(env=env, log=tmp_path / "serve.log")
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=tls)
            try:
                connection.request("GET", "/accounts/login/")
                response = connection.getresponse()
                response.read()
                break
            except OSError:
                assert time.monotonic() < deadline, "bin/serve did not answer over HTTPS"
                time.sleep(0.3)
            finally:
                connection.close()
        assert response.status == 200  # not redirected: the app knows the request came over HTTPS
        assert "max-age=" in response.getheader("Strict-Transport-Security", "")
        [runtime] = tmp_path.glob("leadflow-serve.*")

        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
        assert proc.wait(timeout=30) == 0
    finally:
        stop(proc)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # nothing of the group is left: neither gunicorn nor nginx
    assert not runtime.exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
