"""Production readiness: deploy checks, gunicorn config, static files, error pages, database outages."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from django.test import Client

from crm.tests.factories import SourceFactory

REPO = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "crm.example.com",
    "DATABASE_URL": "sqlite:////tmp/leadflow-deploy-check.sqlite3",
}


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_", "HTTPS", "GUNICORN_"))
    }
    return subprocess.run(
        args, cwd=REPO, env={**base, **PRODUCTION, **env}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.own_database
def test_check_deploy_is_clean_in_production():
    result = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.own_database
def test_https_hardening_is_on_by_default_and_can_be_turned_off_for_plain_http():
    code = (
        "import django; django.setup(); from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0,"
        " getattr(s, 'SECURE_PROXY_SSL_HEADER', None) is not None)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "config.settings"}
    assert run([sys.executable, "-c", code], **env).stdout.split() == ["True"] * 5
    assert run([sys.executable, "-c", code], HTTPS="false", **env).stdout.split() == ["False"] * 5


@pytest.mark.own_database
def test_gunicorn_config_reads_the_environment():
    result = run(
        [sys.executable, "-m", "gunicorn", "--print-config"],
        GUNICORN_BIND="127.0.0.1:9123",
        GUNICORN_WORKERS="3",
        GUNICORN_THREADS="2",
    )
    assert result.returncode == 0, result.stderr
    config = {
        k.strip(): v.strip() for k, _, v in (line.partition("=") for line in result.stdout.splitlines())
    }
    assert config["bind"] == "['127.0.0.1:9123']"
    assert (config["workers"], config["threads"]) == ("3", "2")
    assert config["accesslog"] == "-" and config["wsgi_app"] == "config.wsgi:application"
    assert int(config["graceful_timeout"]) > 0
    assert config["preload_app"] == "True"
    off = run([sys.executable, "-m", "gunicorn", "--print-config"], GUNICORN_PRELOAD="false").stdout
    assert any(line.split() == ["preload_app", "=", "False"] for line in off.splitlines())


@pytest.mark.own_database
def test_gunicorn_listens_only_locally_with_sync_workers_by_default():
    """nginx is the public face and buffers for gunicorn's stock sync workers (docs/security.md)."""
    result = run([sys.executable, "-m", "gunicorn", "--print-config"], PORT="9999")  # PORT is nginx's
    assert result.returncode == 0, result.stderr
    config = {
        k.strip(): v.strip() for k, _, v in (line.partition("=") for line in result.stdout.splitlines())
    }
    assert config["bind"] == "['127.0.0.1:8000']"
    assert config["worker_class"] == "sync"


@pytest.mark.own_database
def test_importing_the_app_opens_no_database_connection():
    # gunicorn imports it once in the master and forks the workers (preload_app): a connection opened
    # by the import would be shared by every worker.
    code = (
        "import config.wsgi; from django.db import connections;"
        "print([c.connection is None for c in connections.all(initialized_only=True)] or [True])"
    )
    result = run([sys.executable, "-c", code], DJANGO_SETTINGS_MODULE="config.settings")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[True]"]


@pytest.mark.own_database
def test_collectstatic_makes_hashed_compressed_files(tmp_path):
    result = run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], STATIC_ROOT=str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    paths = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    hashed = paths["css/app.css"]
    assert hashed != "css/app.css"
    assert (tmp_path / f"{hashed}.gz").exists()
    # Only what the pages use: Swagger UI's bundle and style, not their 3 MB of source maps nor ReDoc.
    assert {"ninja/swagger-ui-bundle.js", "ninja/swagger-ui.css", "ninja/swagger-ui-init.js"} <= paths.keys()
    shipped = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert not [name for name in shipped if ".map" in name or "redoc" in name]


@pytest.mark.django_db
def test_unknown_page_is_a_404_page_extending_base(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.text and "css/app" in response.text and "Leadflow" in response.text


@pytest.mark.django_db
def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"errors": {"request": ["Nothing is here."]}}


@pytest.mark.django_db
def test_server_error_under_api_is_json():
    client = Client(raise_request_exception=False)
    source = SourceFactory()
    with mock.patch("distribution.api.receive_contact", side_effect=RuntimeError("bug")):
        response = client.post(
            "/api/contacts/",
            {"external_id": "x"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {source.token}",
        )
    assert response.status_code == 500 and "errors" in response.json()


@pytest.mark.django_db
def test_server_error_page_extends_base(admin_user):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    with mock.patch("django.contrib.admin.sites.AdminSite.each_context", side_effect=RuntimeError("bug")):
        response = client.get("/admin/")
    assert response.status_code == 500
    assert "Server error" in response.text and "css/app" in response.text
    assert "RuntimeError" not in response.text


@pytest.mark.django_db
def test_staff_page_shows_a_friendly_503_when_the_database_is_down(admin_user):
    client = Client()
    client.force_login(admin_user)
    with mock.patch.object(CursorWrapper, "execute", side_effect=OperationalError("connection refused")):
        response = client.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "Temporarily unavailable" in response.text and "<html" in response.text


@pytest.mark.django_db
def test_webhook_is_503_json_when_the_database_is_down():
    source = SourceFactory()
    with mock.patch.object(CursorWrapper, "execute", side_effect=OperationalError("connection refused")):
        response = Client().post(
            "/api/contacts/",
            {"external_id": "x"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {source.token}",
        )
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "database" in response.json()["errors"]


@pytest.mark.django_db
def test_an_error_page_that_cannot_render_falls_back_to_plain_text(client):
    with mock.patch("config.errors.render_to_string", side_effect=ValueError("Missing staticfiles manifest")):
        response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/plain") and response.text == "Nothing is here."
