"""Fixtures shared by every test: a seeded random generator, and the switches for PostgreSQL-only tests and
for the tests that run on a database of their own (once, in the SQLite pass)."""

import random
from collections.abc import Iterator

import pytest
from django.db import connection
from django.utils import translation


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20240601)


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # The test client and the live server speak plain HTTP. HTTPS hardening itself is tested in a child
    # process with production settings (tests/test_production.py).
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if connection.vendor == "postgresql":
        # They run a server or process of their own on a database of their own, or check words and layout,
        # which no engine changes: one run is enough (the SQLite pass), and CI's time goes to the rest.
        ran = pytest.mark.skip(reason="runs on a SQLite database of its own: it ran in the SQLite pass")
        said = pytest.mark.skip(
            reason="words and layout, the same on every engine: it ran in the SQLite pass"
        )
        for item in items:
            if "own_database" in item.keywords:
                item.add_marker(ran)
            elif "words" in item.keywords or "browser" in item.keywords:
                item.add_marker(said)
        return
    skip = pytest.mark.skip(
        reason=f"needs PostgreSQL; the suite runs on {connection.vendor}. "
        "Run it with DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadflow bin/test (.ci/run does)."
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def plain_static_storage(settings) -> None:
    """Tests render pages without running collectstatic first; the hashed-name manifest is tested on its own."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def new_worker() -> None:
    """Each test starts as a new worker: no routes of tokens met before, no sources found full
    (distribution.routes.memory)."""
    from distribution.routes import memory

    memory.clear()


@pytest.fixture(autouse=True)
def default_language() -> Iterator[None]:
    """Each test starts in the default language. A request through the test client activates its language
    for the rest of the thread (LocaleMiddleware never deactivates it: a server's next request activates its
    own), so a Russian page would otherwise turn the next test's template tags Russian."""
    yield
    translation.deactivate()
