"""Debian's headless Chromium through playwright, for the browser tests (tests/test_browser.py and
integrations/tests/test_docs_browser.py). Skipped with the reason when either is missing, and failed
instead under CI=true. Screenshots go to ARTIFACTS (artifacts/browser/, ignored by git)."""

import importlib.util
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def chromium_path() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    missing = None
    if path is None:
        missing = "chromium is not installed (apt-get install chromium; .ci/run does it)"
    elif importlib.util.find_spec("playwright") is None:
        missing = "the playwright package is not installed (pip install -r requirements.txt)"
    if missing and os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {missing}")
    if missing:
        pytest.skip(missing)
    return path


@contextmanager
def chromium() -> Iterator:
    """A launched browser, closed afterwards. Create the test data before: inside, playwright runs an
    event loop in this thread and the ORM refuses to work."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
