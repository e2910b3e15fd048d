"""config.wsgi.application, called as gunicorn calls it: the webhook through its short middleware stack,
everything else through the whole one."""

import io
import json
from unittest import mock

import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import OperationalError, close_old_connections

from crm.models import Contact
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory
from distribution import webhook

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def keep_the_test_transaction():
    # As Django's test client does: closing "old" connections at the start and end of a request would end
    # the transaction the test runs in.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def call(path: str, *, method: str = "GET", body: bytes = b"", **meta: str) -> tuple[int, dict, bytes]:
    from config.wsgi import application

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        **meta,
    }
    answer = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info=None) -> None:
        answer.update(status=int(status.split()[0]), headers=dict(headers))

    response = application(environ, start_response)
    try:
        content = b"".join(response)
    finally:
        response.close()
    return answer["status"], answer["headers"], content


def post_contact(source, body: dict, **meta: str) -> tuple[int, dict, bytes]:
    return call(
        "/api/contacts/",
        method="POST",
        body=json.dumps(body).encode(),
        CONTENT_TYPE="application/json",
        HTTP_AUTHORIZATION=f"Bearer {source.token}",
        **meta,
    )


@pytest.fixture
def source():
    source = SourceFactory()
    WeightFactory(source=source, operator=OperatorFactory())
    return source


def test_the_webhook_stack_is_the_full_one_without_what_it_does_not_use():
    full = settings.MIDDLEWARE
    # LocaleMiddleware's place is taken by its lighter form (tested against it below).
    short = [
        "django.middleware.locale.LocaleMiddleware" if m == "config.language.RequestLanguageMiddleware" else m
        for m in settings.WEBHOOK_MIDDLEWARE
    ]
    assert [m for m in full if m in short] == short  # a subset, in the same order
    assert "config.errors.DatabaseUnavailableMiddleware" in short
    assert "django.middleware.security.SecurityMiddleware" in short
    assert not {m for m in short if "session" in m or "auth" in m or "csrf" in m or "axes" in m}


def test_the_webhook_runs_without_sessions_users_or_messages(source, monkeypatch):
    seen = []
    real = webhook.declared_size_ok

    def spy(request):
        seen.append({name for name in ("session", "user", "_messages") if hasattr(request, name)})
        return real(request)

    monkeypatch.setattr(webhook, "declared_size_ok", spy)
    status, headers, _ = post_contact(source, {"external_id": "short-stack"})
    assert status == 201 and seen == [set()]
    assert Contact.objects.filter(lead__external_id="short-stack").count() == 1
    # The headers the short stack still owes every answer.
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Language"] == "en" and "Set-Cookie" not in headers


def test_pages_still_get_the_whole_stack():
    status, headers, _ = call("/accounts/login/")
    assert status == 200 and "csrftoken" in headers.get("Set-Cookie", "")


def test_webhook_errors_are_in_the_callers_language(source):
    status, headers, content = post_contact(source, {"external_id": ""}, HTTP_ACCEPT_LANGUAGE="ru")
    assert status == 400 and headers["Content-Language"] == "ru"
    message = json.loads(content)["errors"]["external_id"][0]
    assert any("а" <= ch <= "я" for ch in message.lower()), message


def test_a_database_outage_on_the_webhook_is_still_a_503(source):
    refused = OperationalError("connection refused")
    with mock.patch.object(webhook, "route_for_token_digest", side_effect=refused):
        status, headers, content = post_contact(source, {"external_id": "down"})
    assert status == 503 and headers["Retry-After"] == "5"
    assert "database" in json.loads(content)["errors"]


@pytest.mark.parametrize(
    "meta",
    [
        {},
        {"HTTP_ACCEPT_LANGUAGE": "ru"},
        {"HTTP_ACCEPT_LANGUAGE": "de-DE,de;q=0.9,ru;q=0.8"},
        {"HTTP_ACCEPT_LANGUAGE": "fr"},
        {"HTTP_COOKIE": "django_language=ru"},
        {"HTTP_COOKIE": "django_language=ru", "HTTP_ACCEPT_LANGUAGE": "en"},
    ],
)
def test_the_webhooks_language_middleware_answers_as_locale_middleware_does(rf, meta):
    from django.http import HttpResponse
    from django.middleware.locale import LocaleMiddleware
    from django.utils import translation

    from config.language import RequestLanguageMiddleware

    def answers(middleware_class) -> tuple:
        request = rf.post("/api/contacts/", **meta)
        response = middleware_class(lambda request: HttpResponse(translation.gettext("Unknown token.")))(
            request
        )
        return response["Content-Language"], response["Vary"], response.content, request.LANGUAGE_CODE

    assert answers(RequestLanguageMiddleware) == answers(LocaleMiddleware)
