"""A pooler in transaction mode that DATABASE_POOLER does not mention (a setting forgotten) may cost speed,
never a contact: the intake meets PgBouncer's prepared-statement errors, switches to statements as text,
warns once per process naming the setting, and answers every request.

It runs its own gunicorn and PgBouncer on a database of its own, so only in the PostgreSQL pass."""

import json
import os
import secrets
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.conf import settings

from tests.livehost import REPO, free_port, recreate_database, start_gunicorn, stop, wait_healthy
from tests.pooler import pgbouncer, pgbouncer_binary

pytestmark = pytest.mark.postgres

CONTACTS = 120
WORKERS = 4


def direct_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/leadflow_pooler_fallback"


def manage(*command: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=REPO,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return done.stdout


def forget_prepared_statements(url: str, *, connections: int) -> None:
    """DEALLOCATE ALL on `connections` server connections of a pooler in transaction mode at once."""
    held = [psycopg.connect(url) for _ in range(connections)]
    try:
        for connection in held:  # each inside its transaction until all have run: different servers
            connection.execute("DEALLOCATE ALL")
        for connection in held:
            connection.commit()
    finally:
        for connection in held:
            connection.close()


def test_a_forgotten_database_pooler_costs_no_contact(tmp_path):
    if pgbouncer_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but pgbouncer is not installed (apt-get install pgbouncer)")
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    url = direct_url()
    env = {"DATABASE_URL": url, "SECRET_KEY": secrets.token_urlsafe(50), "DEBUG": "false", "HTTPS": "false"}
    recreate_database(url)
    manage("migrate", "--noinput", "-v0", env=env)
    script = (
        "from crm.services import create_source, create_operator\n"
        "from distribution.capacity import set_weights\n"
        "source, token = create_source(name='Pooled')\n"
        "set_weights(source=source, weights={create_operator(name=f'Op {n}', load_limit=1000).pk: 1 for n in range(3)})\n"
        "print(token)"
    )
    token = manage("shell", "-c", script, env=env).strip().splitlines()[-1]

    port, log = free_port(), tmp_path / "gunicorn.log"
    # Two server connections for four workers: statements prepared in one session are run in another.
    with pgbouncer(url, port=free_port(), pool_size=2) as pooled:
        server_env = {**env, "DATABASE_URL": pooled, "LOG_LEVEL": "WARNING", "CONN_MAX_AGE": "60"}
        server_env.pop("DATABASE_POOLER", None)
        server = start_gunicorn(port=port, env=server_env, workers=WORKERS, log=log)
        try:
            wait_healthy(f"http://127.0.0.1:{port}/healthz", proc=server)

            def post(n: int) -> int:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/contacts/",
                    data=json.dumps({"external_id": f"pooled-{n}"}).encode(),
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        return response.status
                except urllib.error.HTTPError as exc:
                    return exc.code

            with ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(post, range(CONTACTS // 2)))
                # Whether the workers' prepared statements already met each other's server connections is
                # a matter of timing; what a pooler does to them is not: forget them on both server
                # connections (each held by a transaction of its own, so they are two), as a server
                # connection closed and opened again by the pooler would.
                forget_prepared_statements(pooled, connections=2)
                statuses += list(pool.map(post, range(CONTACTS // 2, CONTACTS)))
        finally:
            stop(server)
    text = log.read_text()
    assert statuses == [201] * CONTACTS, (sorted(set(statuses)), text[-3000:])
    stored = manage("shell", "-c", "from crm.models import Contact; print(Contact.objects.count())", env=env)
    assert int(stored.split()[-1]) == CONTACTS
    warnings = text.count("DATABASE_POOLER is not set to transaction")
    assert 1 <= warnings <= WORKERS, text[-3000:]  # once per worker process at most
    assert "Internal Server Error" not in text
