"""Hardening (issue 13): durable SQLite commits, login lockout, throttled token guessing, no regex lookups
in the admin, JSON under /api/, no control characters in query strings."""

import json
import threading
from types import SimpleNamespace

import pytest
from axes.models import AccessAttempt
from django.contrib import admin
from django.core.management import call_command
from django.db import connection
from django.middleware.csrf import _get_failure_view
from django.test import Client, RequestFactory
from django.urls import reverse

from config.control_chars import strip_control_characters
from config.errors import csrf_failure, too_many_failures
from crm.tests.factories import LeadFactory
from distribution import throttling
from distribution.throttling import TooManyFailures
from throttle import services as throttle
from throttle.models import AuthFailures

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("clerk", password=PASSWORD, is_staff=True)


@pytest.fixture
def superuser_client(client, django_user_model) -> Client:
    client.force_login(django_user_model.objects.create_superuser("boss", password=PASSWORD))
    return client


# 1. Durability ---------------------------------------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's sync setting; PostgreSQL syncs every commit"
)
def test_sqlite_syncs_every_commit_before_answering():
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 2  # FULL: the WAL is synced at every commit
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"


# 3. Login lockout ------------------------------------------------------------------------------------


def log_in(client: Client, password: str, **extra) -> object:
    return client.post(reverse("login"), {"username": "clerk", "password": password}, **extra)


def test_login_locks_out_after_the_failure_limit_even_with_the_right_password(client, staff, settings):
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        assert log_in(client, "wrong").status_code == 200  # the form again, with its error
    locked = log_in(client, "wrong")
    assert locked.status_code == 429 and "Sign-in locked" in locked.text

    refused = log_in(client, PASSWORD)
    assert refused.status_code == 429
    assert f"There were {limit} failed sign-in attempts for <strong>clerk</strong>" in refused.text
    assert "Try again in 30 minutes" in refused.text and "axes_reset_username" in refused.text
    assert '<link rel="stylesheet"' in refused.text  # the site's page, not a bare message
    assert client.get(reverse("dashboard")).status_code == 302  # still not logged in
    # Per user name and address: the same user from another address is not locked out.
    assert log_in(Client(), PASSWORD, REMOTE_ADDR="10.1.2.3").status_code == 302


def test_a_supervisor_unlocks_with_the_command(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "wrong")
    assert log_in(client, PASSWORD).status_code == 429
    call_command("axes_reset_username", "clerk")
    response = log_in(client, PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")


def test_a_supervisor_unlocks_in_the_admin(client, staff, settings, superuser_client):
    anonymous = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(anonymous, "wrong")
    assert admin.site.is_registered(AccessAttempt)
    attempt = AccessAttempt.objects.get(username="clerk")
    listing = superuser_client.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200 and "clerk" in listing.text
    delete = reverse("admin:axes_accessattempt_delete", args=[attempt.pk])
    assert superuser_client.post(delete, {"post": "yes"}).status_code == 302
    assert log_in(anonymous, PASSWORD).status_code == 302


def test_a_successful_login_forgets_earlier_failures(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "wrong")
    assert log_in(client, PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "wrong")
    assert log_in(client, PASSWORD).status_code == 302


def test_force_login_is_untouched_by_the_lockout(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "wrong")
    client.force_login(staff)
    assert client.get(reverse("dashboard")).status_code == 200


# 4. Throttling failed webhook/API authentication ----------------------------------------------------


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    now = [1_800_000_000.0]
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: now[0]))
    return now


def wait_after_failing(ip: str) -> int | None:
    """Fail once from `ip`: None while allowed, the seconds to wait once refused."""
    try:
        throttling.record_failure(ip)
    except TooManyFailures as refused:
        return refused.wait
    return None


def test_failures_are_allowed_up_to_the_limit_then_answered_with_the_wait(clock, settings):
    settings.API_AUTH_FAILURE_LIMIT, settings.API_AUTH_FAILURE_WINDOW_SECONDS = 3, 300
    assert [wait_after_failing("203.0.113.5") for _ in range(3)] == [None, None, None]
    assert wait_after_failing("203.0.113.5") == 300  # the limit is inclusive: the fourth is refused
    clock[0] += 100.5
    assert wait_after_failing("203.0.113.5") == 200  # until the window that began at the first failure ends
    assert wait_after_failing("203.0.113.6") is None  # another client has its own count
    clock[0] += 199.4
    assert wait_after_failing("203.0.113.5") == 1  # still the same window, by a fraction of a second
    clock[0] += 0.2
    assert wait_after_failing("203.0.113.5") is None  # the window is over, and a new one starts
    assert AuthFailures.objects.get(client="203.0.113.5").failures == 1


def test_a_new_window_clears_finished_ones(clock, settings):
    settings.API_AUTH_FAILURE_WINDOW_SECONDS = 60
    for address in ["192.0.2.1", "192.0.2.2", "192.0.2.3"]:
        throttling.record_failure(address)
    clock[0] += 61
    throttling.record_failure("192.0.2.9")
    assert list(AuthFailures.objects.values_list("client", flat=True)) == ["192.0.2.9"]


def test_an_ipv6_client_is_counted_by_its_64_network(settings):
    settings.API_AUTH_FAILURE_LIMIT = 2
    assert wait_after_failing("2001:db8:1:2::1") is None
    assert wait_after_failing("2001:db8:1:2:ffff::9") is None
    assert wait_after_failing("2001:db8:1:2:abcd::5") is not None
    assert throttle.client_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert throttle.client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"


@pytest.mark.django_db(transaction=True)
def test_concurrent_failures_on_separate_connections_each_count_once(settings):
    """What gunicorn workers on several hosts do: each its own database connection, one shared count."""
    settings.API_AUTH_FAILURE_LIMIT = 1000
    threads, per_thread = 8, 10
    start = threading.Barrier(threads)

    def fail() -> None:
        try:
            start.wait()
            for _ in range(per_thread):
                throttling.record_failure("198.51.100.1")
        finally:
            connection.close()

    workers = [threading.Thread(target=fail) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert AuthFailures.objects.get(client="198.51.100.1").failures == threads * per_thread


def test_the_throttled_answer_is_429_json_with_retry_after():
    response = too_many_failures(42)
    assert response.status_code == 429 and response["Retry-After"] == "42"
    assert list(json.loads(response.content)) == ["errors"]
    assert "42 seconds" in json.loads(response.content)["errors"]["authorization"][0]


def test_the_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(
    rf: RequestFactory, settings
):
    settings.FORWARDED_ALLOW_IPS = ["127.0.0.1", "10.0.0.0/8"]
    direct = rf.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert throttle.client_ip(direct) == "203.0.113.9"  # a client cannot name its own address
    proxied = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.2, 10.0.0.7")
    assert throttle.client_ip(proxied) == "198.51.100.2"  # the first hop not added by our proxies
    assert throttle.client_ip(rf.get("/", REMOTE_ADDR="10.0.0.5")) == "10.0.0.5"
    garbage = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="not-an-address")
    assert throttle.client_ip(garbage) == "127.0.0.1"
    settings.FORWARDED_ALLOW_IPS = ["*"]
    assert throttle.client_ip(direct) == "1.2.3.4"


# 5. No user-supplied patterns in the admin ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/admin/crm/lead/?external_id__regex=(a*)*b",
        "/admin/crm/lead/?name__iregex=x",
        "/admin/crm/contact/?lead__external_id__icontains=a",
        "/admin/crm/lead/?external_id__startswith=a",
    ],
)
def test_admin_refuses_pattern_lookups_at_once(superuser_client, url):
    from django.test.utils import CaptureQueriesContext

    LeadFactory(external_id="a" * 25)
    with CaptureQueriesContext(connection) as queries:
        response = superuser_client.get(url)
    assert response.status_code == 400
    # Refused before any list is read: no query of the leads or contacts ran, let alone the pattern.
    assert not [
        q["sql"] for q in queries.captured_queries if "crm_lead" in q["sql"] or "crm_contact" in q["sql"]
    ]


def test_admin_filters_search_and_date_hierarchy_still_work(superuser_client):
    lead = LeadFactory(external_id="tg-42")
    for url in [
        "/admin/crm/lead/?q=tg-42",
        f"/admin/crm/lead/?external_id={lead.external_id}",
        "/admin/crm/operator/?is_active__exact=1",
        "/admin/crm/contact/?assignment=unassigned&source__id__exact=1&operator__isnull=True",
        "/admin/crm/contact/?created_at__year=2026&created_at__month=1",
    ]:
        assert superuser_client.get(url).status_code == 200, url


# 6. JSON under /api/ ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/nothing-here", 404),
        ("post", "/api/contacts/extra/", 404),
        ("get", "/api/", 404),
        ("get", "/api/contacts/", 405),
        ("delete", "/api/contacts", 405),
        ("get", "/api/v1/nothing-here", 404),
        ("delete", "/api/v1/operators", 405),
    ],
)
def test_every_answer_under_api_is_json(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert list(body) == ["errors"] and all(isinstance(v, list) for v in body["errors"].values())


def test_a_disallowed_host_under_api_is_a_json_400(client):
    response = client.get("/api/contacts/", HTTP_HOST="evil.example")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"


def test_outside_api_errors_stay_pages(client):
    response = client.get("/nothing-here/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_csrf_failures_are_json_under_api_and_a_page_elsewhere(rf: RequestFactory):
    assert _get_failure_view() is csrf_failure
    api = csrf_failure(rf.post("/api/anything/"), reason="CSRF cookie not set.")
    assert api.status_code == 403
    assert json.loads(api.content) == {"errors": {"csrf": ["CSRF verification failed: CSRF cookie not set."]}}
    page = csrf_failure(rf.post("/leads/"), reason="CSRF cookie not set.")
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


# 7. No control characters in query strings ---------------------------------------------------------


def test_a_nul_in_a_staff_search_is_removed_not_an_error(client, staff):
    LeadFactory(external_id="abc", name="Ivan")
    client.force_login(staff)
    response = client.get("/leads/?q=%00")
    assert response.status_code == 200
    response = client.get("/leads/?q=a%00b%01c%7f%C2%85")
    assert response.status_code == 200 and 'value="abc"' in response.text and "Ivan" in response.text
    assert client.get("/contacts/?source=%00&from=%002026-01-01").status_code == 200


def test_a_nul_in_an_admin_search_is_removed(superuser_client):
    assert superuser_client.get("/admin/crm/lead/?q=%00").status_code == 200
    assert superuser_client.get("/admin/crm/contact/?q=x%00").status_code == 200


def test_control_characters_are_stripped_from_names_and_values_only():
    assert strip_control_characters("a\x00b\tc\n\x1f\x7f\x9fé ü") == "abcé ü"
