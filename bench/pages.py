"""Staff pages and admin changelists, timed in-process with Django's test client against the bench data.

In-process on purpose: the figure is the server's own time (middleware, queries, templates) without
network and client noise, and the query count comes with it. A page that 404s or raises is reported as
"n/a (…)" and the rest go on: some pages may not exist yet on a branch.
"""

import statistics
import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from bench.history import HISTORY_LEAD_PREFIX, RUN_LEAD_PREFIX, BenchSetup
from crm.models import Contact

SLOW_MS = 200.0
BENCH_USERNAME = "bench-admin"


@dataclass(frozen=True)
class PageTiming:
    url: str
    status: int | None
    median_ms: float | None = None
    max_ms: float | None = None
    queries: int | None = None
    sql_ms: float | None = None  # the database's share of the time, from the counted request
    slowest_sql: str = ""  # the start of that request's slowest statement: where a slow page's time goes
    error: str = ""  # why there are no figures: "n/a (404)", "n/a (TemplateDoesNotExist)"

    @property
    def slow(self) -> bool:
        return self.median_ms is not None and self.median_ms > SLOW_MS

    def as_dict(self) -> dict:
        return {**asdict(self), "slow": self.slow}


def page_urls(*, setup: BenchSetup) -> list[str]:
    """The pages to time, filled in with a lead that has contacts and a fragment of its external id."""
    # The lowest lead id among the source's contacts: a history lead when there is history (they have
    # several contacts each), otherwise one posted by the run. An index range on (lead, created_at).
    contacts = Contact.objects.filter(source=setup.source).order_by("lead_id")
    lead = contacts.values_list("lead_id", "lead__external_id").first()
    lead_id, external_id = lead or (0, f"{HISTORY_LEAD_PREFIX}0000000")
    # A fragment from the middle, as a person searching would type it: not the common "bench-" prefix.
    fragment = external_id.removeprefix(RUN_LEAD_PREFIX)
    return [
        "/",
        "/leads/",
        f"/leads/?q={fragment}",
        f"/leads/{lead_id}/",
        "/contacts/",
        "/contacts/?unassigned=1",
        f"/contacts/?source={setup.source.pk}",
        "/admin/crm/contact/",
        "/admin/crm/contact/?assignment=unassigned",
        "/admin/crm/lead/",
        f"/admin/crm/lead/?q={fragment}",
        "/admin/crm/operator/",
        "/admin/crm/source/",
    ]


def time_pages(*, urls: list[str], repeat: int = 5) -> list[PageTiming]:
    """Each URL: one warm-up request, `repeat` timed ones, then one more to count its queries.

    The count is taken on a separate request so that recording the SQL does not slow the timed ones.
    """
    user, _ = get_user_model().objects.get_or_create(
        username=BENCH_USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    if not (user.is_staff and user.is_superuser and user.is_active):
        user.is_staff = user.is_superuser = user.is_active = True
        user.save(update_fields=["is_staff", "is_superuser", "is_active"])
    # The test client says Host: testserver; pages render without a collectstatic manifest (asset URLs
    # only, which costs the same); secure=True below stands in for the TLS proxy in front of production.
    with override_settings(
        ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"],
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    ):
        client = Client()
        client.force_login(user)
        return [_time_page(client, url, repeat=repeat) for url in urls]


def _time_page(client: Client, url: str, *, repeat: int) -> PageTiming:
    timings = []
    try:
        for run in range(repeat + 1):
            started = time.perf_counter()
            response = client.get(url, secure=True)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                return PageTiming(url=url, status=response.status_code, error=f"n/a ({response.status_code})")
            if run:  # the first one is the warm-up
                timings.append(elapsed_ms)
        with CaptureQueriesContext(connection) as queries:
            client.get(url, secure=True)
    except Exception as exc:  # a page under construction may raise anything; report it and go on
        return PageTiming(url=url, status=None, error=f"n/a ({type(exc).__name__}: {str(exc)[:80]})")
    captured = queries.captured_queries
    slowest = max(captured, key=lambda q: float(q["time"]), default={"sql": "", "time": "0"})
    return PageTiming(
        url=url,
        status=200,
        median_ms=round(statistics.median(timings), 1),
        max_ms=round(max(timings), 1),
        queries=len(captured),
        sql_ms=round(sum(float(q["time"]) for q in captured) * 1000, 1),
        slowest_sql=f"{float(slowest['time']) * 1000:.1f} ms: {slowest['sql'][:160]}",
    )
