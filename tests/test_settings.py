"""Settings come from the environment; these run Django in a child process with a controlled environment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}}
    # An empty SECRET_KEY in the environment also masks one that a developer's .env may hold.
    clean.update({"DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": ""}, **env)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.own_database
def test_debug_off_without_secret_key_refuses_to_start():
    result = run_django("print('started')", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "started" not in result.stdout


@pytest.mark.own_database
def test_debug_defaults_to_off():
    result = run_django("print('started')")
    assert result.returncode != 0 and "SECRET_KEY is not set" in result.stderr


@pytest.mark.own_database
def test_debug_on_may_use_a_development_key():
    result = run_django(
        "from django.conf import settings; print(settings.DEBUG, bool(settings.SECRET_KEY))", DEBUG="true"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True True"


@pytest.mark.own_database
def test_default_database_is_sqlite_that_waits_for_the_write_lock(tmp_path):
    result = run_django(
        "from django.db import connection; c = connection.cursor();"
        "print(connection.vendor, connection.settings_dict['OPTIONS']['transaction_mode'],"
        " c.execute('PRAGMA journal_mode').fetchone()[0], c.execute('PRAGMA busy_timeout').fetchone()[0])",
        SECRET_KEY="x" * 50,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    assert result.returncode == 0, result.stderr
    vendor, mode, journal, busy = result.stdout.split()
    assert (vendor, mode, journal) == ("sqlite", "IMMEDIATE", "wal")
    assert int(busy) >= 5000


@pytest.mark.own_database
def test_postgres_url_uses_persistent_connections():
    result = run_django(
        "from django.conf import settings; d = settings.DATABASES['default'];"
        "print(d['ENGINE'], d['CONN_MAX_AGE'] > 0, d['CONN_HEALTH_CHECKS'])",
        SECRET_KEY="x" * 50,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/leadflow",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "True", "True"]


# The checks read DATABASES only; no connection is made with the overridden value.
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_the_pooler_checks_are_registered_and_refuse_a_breaking_combination(settings):
    from django.core.checks import run_checks

    db = {**settings.DATABASES["default"], "ENGINE": "django.db.backends.postgresql", "OPTIONS": {}}
    settings.DATABASES = {"default": {**db, "DISABLE_SERVER_SIDE_CURSORS": False}}
    settings.DATABASE_POOLER = "transaction"
    assert "leadflow.E002" in {m.id for m in run_checks()}
    settings.DATABASES = {"default": {**db, "DISABLE_SERVER_SIDE_CURSORS": True}}
    assert not {m.id for m in run_checks()} & {"leadflow.E002", "leadflow.E003", "leadflow.E004"}


@pytest.mark.own_database
def test_starting_django_logs_nothing_at_the_default_level():
    # Every command and every gunicorn worker starts Django: django-axes's "AXES: BEGIN version ..."
    # used to open the output of each one.
    result = run_django("print('started')", DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "started\n" and result.stderr == ""
