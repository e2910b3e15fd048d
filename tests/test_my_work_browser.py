"""My work in a real browser: an operator logs in through the form, lands on My work, a contact for them
arrives through the webhook while the page is open and appears without a reload (the tab's title counting
it), and one click sets them away for lunch; the page at 1280 px and on a 390-px phone.

Headless Chromium (Debian's package) through playwright (tests/browser.py): skipped with the reason when
either is missing, failed instead under CI=true. Screenshots go to artifacts/browser/my-work-*.png.
"""

import json
import re
import urllib.request
from datetime import time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory
from distribution import schedules
from tests.browser import ARTIFACTS, chromium

PASSWORD = "browser-test-password"
ZONE = "Europe/Berlin"


def make_data(django_user_model) -> str:
    """Anna (an operator's own account, not staff) on shift now with a few open contacts, Boris with one of
    his own; the webhook token of Anna's source."""
    user = django_user_model.objects.create_user("anna", password=PASSWORD)
    anna = OperatorFactory(name="Anna", user=user, timezone=ZONE, load_limit=6)
    # A shift around now on every day of the week, so she can take the contact the test sends.
    hour = timezone.now().astimezone(ZoneInfo(ZONE)).hour
    starts, ends = time((hour - 2) % 24), time((hour + 6) % 24)
    schedules.set_schedule(
        operator=anna, intervals=[schedules.Interval(day, starts, ends) for day in range(7)], exceptions=[]
    )
    bot = SourceFactory(name="Telegram bot")
    WeightFactory(source=bot, operator=anna)
    form = SourceFactory(name="Site form")
    WeightFactory(source=form, operator=anna)
    now = timezone.now()
    ContactFactory(
        lead=LeadFactory(external_id="tg-1001", name="Ivan Petrov"),
        source=bot,
        operator=anna,
        message="Hello, I want a quote for 40 chairs.\nDelivery to Potsdam, please.\n\nIvan",
        created_at=now - timedelta(hours=2),
    )
    ContactFactory(
        lead=LeadFactory(external_id="form-77", name=""),
        source=form,
        operator=anna,
        message="Call me back <after six>",
        created_at=now - timedelta(hours=5),
        assigned_at=now - timedelta(minutes=40),  # waited in the queue, then routed to her
    )
    ContactFactory(source=form, operator=anna, message="", created_at=now - timedelta(hours=7))
    boris = OperatorFactory(name="Boris")
    ContactFactory(source=form, operator=boris, message="Boris's customer")
    return bot.token


def send(live_server, token: str, **body) -> dict:
    """A channel's webhook call, over HTTP to the live server (no ORM in the browser's thread)."""
    request = urllib.request.Request(
        f"{live_server.url}/api/contacts/",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_operator_sees_a_new_contact_arrive_and_goes_to_lunch(live_server, django_user_model, settings):
    settings.MY_WORK_POLL_SECONDS = 1
    token = make_data(django_user_model)

    with chromium() as browser:
        from playwright.sync_api import expect

        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/")
        page.get_by_label("Username").fill("anna")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()

        # Lands on My work, with only My work in the menu and her own contacts.
        expect(page.get_by_role("heading", name="My work", exact=True)).to_be_visible()
        expect(page).to_have_url(f"{live_server.url}/me/")
        expect(page.locator("header .nav-links a")).to_have_text(["My work"])
        rows = page.locator(".my-contacts > li")
        expect(rows).to_have_count(3)
        expect(rows.first).to_contain_text("form-77")  # given last, though it arrived first
        expect(page.locator("main")).not_to_contain_text("Boris's customer")
        expect(page.locator("[data-open-count]")).to_have_text("3")
        expect(page.locator("[data-my-load]")).to_contain_text("3 / 6")
        expect(page.locator(".my-shift")).to_contain_text(
            f"Today ({timezone.now().astimezone(ZoneInfo(ZONE)):%A}"
        )
        expect(page.locator(".my-shift")).to_contain_text("on shift until")
        assert page.title() == "My work · Leadflow"
        page.screenshot(path=ARTIFACTS / "my-work.png", full_page=True)

        # A customer writes in: the row appears without a reload, and the title counts it.
        answer = send(
            live_server, token, external_id="tg-2002", name="Olga", message="Are you open today?\nOlga"
        )
        assert answer["assigned_operator"] is not None
        expect(rows).to_have_count(4, timeout=5_000)
        expect(rows.first).to_contain_text("Olga")
        expect(rows.first).to_contain_text("Are you open today?")
        expect(rows.first).to_have_class(re.compile(r"\bis-new\b"))
        expect(page).to_have_title("(1) My work · Leadflow")
        expect(page.locator("[data-open-count]")).to_have_text("4")
        expect(page.locator("[data-my-load]")).to_contain_text("4 / 6")
        page.screenshot(path=ARTIFACTS / "my-work-new-contact.png", full_page=True)

        # Looking at the page (a key press) counts it as seen.
        page.keyboard.press("Shift")
        expect(page).to_have_title("My work · Leadflow")

        # One click: away for lunch, back in 30 minutes.
        page.get_by_label("Back").select_option(label="in 30 minutes")
        page.get_by_role("button", name="Away — lunch").click()
        expect(page.locator(".messages")).to_contain_text("You are away (lunch) until")
        expect(page.get_by_role("button", name="Away — lunch")).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_role("button", name="Available")).to_have_attribute("aria-pressed", "false")
        expect(page.locator("[data-my-status]")).to_contain_text("away")
        expect(page.locator("[data-my-status]")).to_contain_text("back at")
        page.screenshot(path=ARTIFACTS / "my-work-away.png", full_page=True)

        # A phone: the presence buttons first, then the contacts, nothing scrolls sideways.
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        fits = page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        assert fits, "My work scrolls sideways on a phone"
        page.screenshot(path=ARTIFACTS / "my-work-phone.png", full_page=True)

        # Logging out, "Go offline" ticked by default.
        page.set_viewport_size({"width": 1280, "height": 900})
        expect(page.get_by_label("Go offline")).to_be_checked()
        page.get_by_role("button", name="Log out").click()
        expect(page.locator(".messages")).to_contain_text("You are logged out and offline")
