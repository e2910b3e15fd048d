"""The staff pages in a real browser: headless Chromium (Debian's package) against the live test server.

Skipped, with the reason in the summary, when chromium or the playwright package is missing; .ci/run installs
chromium first. A screenshot of each step goes to artifacts/browser/ (ignored by git).
"""

import importlib.util
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from crm.models import UnassignedReason
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "browser"
PASSWORD = "browser-test-password"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def chromium_path() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does it)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("the playwright package is not installed (pip install -r requirements.txt)")
    return path


def make_data(django_user_model) -> None:
    django_user_model.objects.create_user("sam", password=PASSWORD, is_staff=True)
    anna, boris = OperatorFactory(name="Anna", load_limit=4), OperatorFactory(name="Boris", load_limit=2)
    bot = SourceFactory(name="Telegram bot")
    WeightFactory(source=bot, operator=anna, weight=3)
    WeightFactory(source=bot, operator=boris, weight=1)
    now = timezone.now()
    ivan = LeadFactory(external_id="tg-1001", name="Ivan Petrov")
    candidates = [
        {
            "operator_id": op.pk,
            "name": op.name,
            "weight": w,
            "load": load,
            "limit": op.load_limit,
            "active": True,
            "excluded": None,
            "p": w / 4,
        }
        for op, w, load in [(anna, 3, 0), (boris, 1, None)]
    ]
    why = {"candidates": candidates, "draws": [anna.pk], "chosen": anna.pk, "reason": ""}
    ContactFactory(
        lead=ivan,
        source=bot,
        operator=anna,
        message="Hello, I want a quote",
        explanation=why,
        created_at=now - timedelta(hours=2),
    )
    ContactFactory(
        lead=ivan,
        source=bot,
        operator=None,
        unassigned_reason=UnassignedReason.ALL_AT_LIMIT,
        message="Anyone there?",
        created_at=now - timedelta(minutes=30),
    )
    for i in range(3):
        ContactFactory(lead=LeadFactory(external_id=f"site-{i}"), source=bot, operator=boris if i else anna)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_member_logs_in_and_browses_leads_and_contacts(live_server, django_user_model):
    executable = chromium_path()
    from playwright.sync_api import expect, sync_playwright

    # All data first: inside sync_playwright() an event loop runs in this thread and the ORM refuses to work.
    make_data(django_user_model)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)

            # Asking for a page while logged out leads to the login form, and back after it.
            page.goto(f"{live_server.url}/leads/")
            expect(page.get_by_role("heading", name="Log in")).to_be_visible()
            page.screenshot(path=ARTIFACTS / "login.png")
            page.get_by_label("Username").fill("sam")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Leads")).to_be_visible()
            expect(page.locator("header")).to_contain_text("sam")

            page.get_by_role("link", name="Dashboard").click()
            expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
            loads = page.get_by_role("region", name="Operator load")
            expect(loads.get_by_role("row", name="Anna")).to_contain_text("2 / 4")
            expect(loads.get_by_role("row", name="Boris")).to_contain_text("2 / 2 full")
            expect(page.locator(".backlog")).to_contain_text("1")
            expect(page.locator(".share")).to_contain_text("weight 75.0%")
            page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)

            page.get_by_role("link", name="Leads").click()
            page.get_by_label("Search external id or name").fill("petrov")
            page.get_by_role("button", name="Search").click()
            expect(page.locator("table.data tbody tr")).to_have_count(1)
            expect(page.locator("table.data")).to_contain_text("tg-1001")
            page.screenshot(path=ARTIFACTS / "leads-search.png", full_page=True)
            page.get_by_role("link", name="tg-1001").click()

            expect(page.get_by_role("heading", name="Lead tg-1001")).to_be_visible()
            expect(page.locator(".timeline")).to_contain_text("Hello, I want a quote")
            expect(page.locator(".timeline")).to_contain_text("every active operator is at the load limit")
            page.get_by_text("Why this operator").click()
            expect(page.locator(".why[open]")).to_contain_text("Chosen: operator #")
            expect(page.locator(".why[open]")).to_contain_text("(Anna)")
            page.screenshot(path=ARTIFACTS / "lead.png", full_page=True)

            page.get_by_role("link", name="Contacts").click()
            expect(page.locator("table.data tbody tr")).to_have_count(5)
            page.get_by_label("Unassigned only").check()
            page.get_by_role("button", name="Filter").click()
            expect(page).to_have_url(re.compile(r"/contacts/\?.*unassigned=1"))
            expect(page.locator("table.data tbody tr")).to_have_count(1)
            expect(page.locator("table.data")).to_contain_text("tg-1001")
            expect(page.locator("table.data")).to_contain_text("unassigned")
            page.screenshot(path=ARTIFACTS / "contacts-unassigned.png", full_page=True)

            # A phone: wide tables scroll inside their box, the page itself does not scroll sideways.
            page.set_viewport_size({"width": 390, "height": 844})
            page.get_by_role("link", name="Dashboard").click()
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
            page.screenshot(path=ARTIFACTS / "dashboard-phone.png", full_page=True)

            page.get_by_role("button", name="Log out").click()
            expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        finally:
            browser.close()
