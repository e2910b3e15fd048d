"""gunicorn's thread worker, reading each whole request before a thread (and Django) sees it.

A sync worker, or a gthread thread, blocks on one client until its request has arrived: four sockets
that sent half a request line froze the service for 30 s. Here the worker's event loop reads each
request (head and body) itself, without blocking, from any number of connections at once, and hands it
to a thread only when it is complete, as nginx's request buffering does. So:

- a client that has not sent its whole request within REQUEST_READ_TIMEOUT seconds is disconnected,
  without ever holding a thread;
- a body over MAX_BODY_BYTES (the webhook's limit; deploy/nginx.conf refuses the same) is answered 413
  here, before it is read;
- once a request is with a thread, each socket read and write there waits IO_TIMEOUT at most (a client
  that does not read its answer, a pipelined request sent halfway);
- a worker whose threads are all busy stops accepting connections, so an idle worker takes them (as with
  sync workers), while connections still sending their request never count as busy;
- a request stuck for GUNICORN_TIMEOUT gets its worker killed and replaced, as with sync workers.

Plain HTTP only (TLS ends at the proxy): with gunicorn's own TLS or HTTP/2 the worker is plain gthread.
gunicorn settings cannot carry custom values, so the two timeouts are read from the environment here.
"""

import errno
import os
import re
import selectors
import socket
import time
from functools import partial

from gunicorn.workers.gthread import TConn, ThreadWorker

REQUEST_READ_TIMEOUT = float(os.environ.get("GUNICORN_REQUEST_READ_TIMEOUT", "10"))
IO_TIMEOUT = float(os.environ.get("GUNICORN_IO_TIMEOUT", "10"))
MAX_BODY_BYTES = 64 * 1024  # distribution.webhook.MAX_BODY_BYTES; no page of the app takes more
MAX_HEAD_BYTES = 64 * 1024  # gunicorn's own limits refuse far smaller request lines and header fields

HEAD_END = b"\r\n\r\n"
CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d{1,18})[ \t]*\r$", re.IGNORECASE | re.MULTILINE)
CHUNKED = re.compile(rb"^transfer-encoding[ \t]*:[^\r]*chunked", re.IGNORECASE | re.MULTILINE)
EXPECT_CONTINUE = re.compile(rb"^expect[ \t]*:[ \t]*100-continue", re.IGNORECASE | re.MULTILINE)
LAST_CHUNK = b"\r\n0\r\n"  # the last chunk's line; trailers after it are read by the thread
WAIT, READY, TOO_LARGE = "wait", "ready", "too large"

TOO_LARGE_BODY = b'{"errors": {"body": ["The body may be at most %d bytes."]}}' % MAX_BODY_BYTES
TOO_LARGE_ANSWER = (
    b"HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(TOO_LARGE_BODY), TOO_LARGE_BODY)
)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# A request in a thread for longer than this stops the worker's heartbeat (see notify).
BUSY_HEARTBEAT_GRACE = 2.0


def request_state(data: bytes) -> str:
    """WAIT for more bytes, READY for gunicorn's parser, or TOO_LARGE to refuse.

    This only decides when to hand the bytes over; gunicorn's parser still reads and checks the request
    itself. A misreading costs at most a thread waiting IO_TIMEOUT for the rest, or a disconnect after
    REQUEST_READ_TIMEOUT, never a different request.
    """
    end = data.find(HEAD_END)
    if end < 0:
        return TOO_LARGE if len(data) > MAX_HEAD_BYTES else WAIT
    head, body = data[: end + 2], len(data) - end - len(HEAD_END)  # head: every line with its CRLF
    if CHUNKED.search(head):
        if data.find(LAST_CHUNK, end + 2) >= 0:
            return READY
        return TOO_LARGE if body > 2 * MAX_BODY_BYTES else WAIT  # room for the chunks' framing
    lengths = CONTENT_LENGTH.findall(head)
    if len(lengths) != 1:
        return READY  # no body, or conflicting lengths for gunicorn to refuse
    if int(lengths[0]) > MAX_BODY_BYTES:
        return TOO_LARGE
    return READY if body >= int(lengths[0]) else WAIT


class TimedSocket(socket.socket):
    """A client socket on which gunicorn's "blocking" mode waits IO_TIMEOUT at most.

    gthread switches a connection's socket between non-blocking (in its event loop) and blocking (in a
    thread) with setblocking(); blocking without a limit would let one client hold a thread for ever.
    A read or write that times out raises TimeoutError, and gthread closes the connection.
    """

    def setblocking(self, flag: bool) -> None:
        self.settimeout(IO_TIMEOUT if flag else 0.0)


class BufferingThreadWorker(ThreadWorker):
    def init_process(self) -> None:
        self.buffering = not self.cfg.is_ssl and self.cfg.http2_cleartext == "off"
        # Requests handed to threads and not finished: since when a thread has been on each (None: queued).
        self.in_flight: dict[TConn, float | None] = {}
        super().init_process()

    def set_accept_enabled(self, enabled: bool) -> None:
        # gthread would accept while any thread is busy and queue complete requests behind it, even with
        # another worker idle; only buffering (cheap) goes on meanwhile on the accepted connections.
        super().set_accept_enabled(enabled and (not self.buffering or len(self.in_flight) < self.cfg.threads))

    def enqueue_req(self, conn: TConn) -> None:
        self.in_flight[conn] = None
        if len(self.in_flight) >= self.cfg.threads:
            self.set_accept_enabled(False)
        super().enqueue_req(conn)

    def finish_request(self, conn: TConn, fs) -> None:
        self.in_flight.pop(conn, None)  # the run loop enables accepting again on its next turn
        super().finish_request(conn, fs)

    def notify(self) -> None:
        # gthread's event loop beats the heartbeat even while a thread is stuck in a request, so the
        # master would never end it. A sync worker does not beat during a request; likewise here once
        # a request has run for a moment, so the master kills a worker stuck for GUNICORN_TIMEOUT.
        now = time.monotonic()
        if all(since is None or now - since < BUSY_HEARTBEAT_GRACE for since in self.in_flight.values()):
            super().notify()

    def accept(self, listener) -> None:
        if not self.buffering:
            return super().accept(listener)
        try:
            sock, client = listener.accept()
        except OSError as exc:
            # EMFILE/ENFILE: out of descriptors; the listener stays readable and accepting resumes later.
            if exc.errno not in (
                errno.EAGAIN,
                errno.ECONNABORTED,
                errno.EWOULDBLOCK,
                errno.EMFILE,
                errno.ENFILE,
            ):
                raise
            return
        self.nr_conns += 1
        sock = TimedSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self._read_request(TConn(self.cfg, sock, client, listener.getsockname()))  # TConn: non-blocking

    def on_client_socket_readable(self, conn: TConn, client) -> None:
        """A kept-alive connection is sending its next request: buffer that one too."""
        if not self.buffering:
            return super().on_client_socket_readable(conn, client)
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._read_request(conn)

    def _read_request(self, conn: TConn) -> None:
        conn.received = bytearray()
        conn.continued = conn.refused = False
        # gthread's own list of connections waiting for data: its run loop closes them at conn.timeout.
        conn.timeout = time.monotonic() + REQUEST_READ_TIMEOUT
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_request_data, conn))

    def _on_request_data(self, conn: TConn, client) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data and conn.refused:
            return  # the 413 is sent: read and drop the rest until the client closes or time is up
        if data:
            conn.received += data
            state = request_state(conn.received)
            try:
                if state == WAIT:
                    if not conn.continued and EXPECT_CONTINUE.search(conn.received):
                        conn.continued = True  # the client sends its body only after this
                        conn.sock.send(CONTINUE)
                    return
                if state == TOO_LARGE:
                    conn.refused = True
                    conn.received = None
                    conn.sock.send(TOO_LARGE_ANSWER)  # small: fits the empty send buffer at once
                    conn.sock.shutdown(socket.SHUT_WR)
                    return
            except OSError:
                data = b""  # the client is gone: close below
        self.poller.unregister(client)
        self.pending_conns.remove(conn)
        if not data:  # the client went away (or finished reading the 413)
            self.nr_conns -= 1
            conn.close()
            return
        conn.data_ready = True  # gthread must not wait for data again
        self.enqueue_req(conn)

    def handle(self, conn: TConn):
        self.in_flight[conn] = time.monotonic()  # in this thread; notify() reads it in the event loop
        received = getattr(conn, "received", None)
        if received:
            conn.received = None
            conn.init()  # the parser; a no-op on a kept-alive connection
            conn.parser.unreader.unread(bytes(received))
        return super().handle(conn)
