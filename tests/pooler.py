"""A PgBouncer in transaction mode for tests: Debian's pgbouncer, on a free port, in front of one database."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

SBIN = "/usr/sbin:/sbin:/usr/bin:/bin"


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer", path=SBIN)


@contextmanager
def pgbouncer(direct_url: str, *, port: int, pool_size: int) -> Iterator[str]:
    """Run PgBouncer (pool_mode = transaction, `pool_size` server connections) in front of the URL's
    database; yields the URL that goes through it. PgBouncer refuses to run as root, so as root it runs as
    the postgres user, from a folder that user can reach."""
    binary = pgbouncer_binary()
    if binary is None:
        raise RuntimeError("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    db = urlsplit(direct_url)
    name = db.path.lstrip("/")
    user = "postgres" if os.geteuid() == 0 else None
    spool = Path(tempfile.mkdtemp(prefix="leadflow-pooler-"))
    spool.chmod(0o755)
    if user:
        shutil.chown(spool, user, user)
    (spool / "userlist.txt").write_text(f'"{db.username}" "{db.password or ""}"\n')
    (spool / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                f"{name} = host={db.hostname} port={db.port or 5432} dbname={name}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                f"logfile = {spool / 'pgbouncer.log'}",
                f"pidfile = {spool / 'pgbouncer.pid'}",
                "auth_type = trust",
                f"auth_file = {spool / 'userlist.txt'}",
                "pool_mode = transaction",
                f"default_pool_size = {pool_size}",
                "max_client_conn = 100",
                "",
            ]
        )
    )
    proc = subprocess.Popen(
        [binary, str(spool / "pgbouncer.ini")],
        user=user,
        group=user,
        extra_groups=[] if user else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"pgbouncer did not start: {(spool / 'pgbouncer.log').read_text()}"
                    ) from None
                time.sleep(0.1)
        yield f"postgres://{db.username}:{db.password or ''}@127.0.0.1:{port}/{name}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(spool, ignore_errors=True)
