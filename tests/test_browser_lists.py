"""The supervisor's lists in a real browser, in both languages: the contact list fits a 1366-px screen and
reads as cards on a 390-px phone with long names and messages, the queue reads oldest first and assigns in
bulk through the page, and dates carry the zone in the Russian pages and admin.

Headless Chromium (Debian's package) through playwright (tests/browser.py): skipped with the reason when
either is missing, failed instead under CI=true. Screenshots go to artifacts/browser/ (ignored by git).
Each test signs in by a session cookie made before the browser starts (the login form has its own test in
tests/test_browser.py), so each stays a few seconds long.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from crm.choices import UnassignedReason
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory
from distribution.selection import Candidate, decide
from tests.browser import ARTIFACTS, chromium

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
LONG_OPERATOR = "Aleksandra-Konstantinovna Rozhdestvenskaya-Vasilyeva-Kuznetsova"
LONG_LEAD = "Maximilian-Alexander von Hohenzollern-Sigmaringen-Weltenbummler"
LONG_MESSAGE = (
    "Hello, I tried to order through https://shop.example.com/checkout/"
    + "a1b2c3d4e5f6" * 12
    + " and the payment page never loaded, please call me back after six, "
    "my other number is +49 170 1234567 and I prefer Russian or German."
)


def session_for(user) -> dict:
    """A signed-in session cookie for playwright (made with the ORM, before the browser's loop runs)."""
    client = Client()
    client.force_login(user)
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}


def open_page(browser, live_server, cookie: dict, *, viewport: dict, language: str):
    context = browser.new_context(viewport=viewport, locale="en-US")
    context.add_cookies(
        [
            {**cookie, "url": live_server.url},
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url},
        ]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def assert_no_sideways_scroll(page, what: str) -> None:
    fits = page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert fits, f"{what}: the page scrolls sideways"


def assert_no_cell_overflows(page, what: str) -> None:
    """No cell's content spills over its edge (into the next column, or out of a card)."""
    spilled = page.evaluate(
        "[...document.querySelectorAll('table.data td, table.data th')]"
        ".filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.innerText.slice(0, 40))"
    )
    assert spilled == [], f"{what}: content spills out of {spilled}"


@pytest.fixture
def supervisor(django_user_model):
    return django_user_model.objects.create_user("sam", is_staff=True, is_superuser=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_contact_list_fits_a_laptop_and_reads_as_cards_on_a_phone(live_server, supervisor, language):
    source = SourceFactory(name="Telegram bot for the spring campaign")
    long_named = OperatorFactory(name=LONG_OPERATOR, load_limit=40)
    WeightFactory(source=source, operator=long_named)
    for n in range(8):
        WeightFactory(source=source, operator=OperatorFactory(name=f"Operator number {n}"))
    seen = [Candidate(long_named.pk, 1, 40, load=0, name=LONG_OPERATOR)]
    why = {**decide(seen, draws=[long_named.pk], chosen=seen[0]).explanation, "path": "manual", "by": "sam"}
    now = timezone.now()
    for n in range(3):
        ContactFactory(
            lead=LeadFactory(external_id=f"tg-{n}-{'9' * 30}", name=LONG_LEAD),
            source=source,
            operator=long_named,
            message=LONG_MESSAGE,
            explanation=why,
            created_at=now - timedelta(hours=3 + n),
            assigned_at=now - timedelta(hours=n),
        )
    ContactFactory(
        lead=LeadFactory(external_id="waiting-" + "x" * 60, name=LONG_LEAD),
        source=source,
        operator=None,
        message=LONG_MESSAGE,
    )
    cookie = session_for(supervisor)

    with chromium() as browser:
        from playwright.sync_api import expect

        # A laptop: the whole table inside its box, every column on screen, an opened assign form too.
        page = open_page(browser, live_server, cookie, viewport=DESKTOP, language=language)
        page.goto(f"{live_server.url}/contacts/")
        expect(page.locator("table.contacts tbody tr")).to_have_count(4)
        page.locator("details.assign summary").first.click()
        page.screenshot(path=ARTIFACTS / f"contacts-{language}-1366.png", full_page=True)
        assert_no_sideways_scroll(page, f"{language} 1366")
        box = page.locator(".table-wrap").bounding_box()
        table = page.locator("table.contacts").bounding_box()
        assert table["x"] + table["width"] <= box["x"] + box["width"] + 1, (table, box)
        for header in page.locator("table.contacts thead th").all():
            edge = header.bounding_box()
            assert edge["x"] + edge["width"] <= box["x"] + box["width"] + 1, header.inner_text()
        expect(page.locator("table.contacts .message-cell").first).to_be_in_viewport()
        assert_no_cell_overflows(page, f"{language} 1366")

        # A phone: cards, each labelled value inside the screen, nothing sideways.
        page.set_viewport_size(PHONE)
        page.goto(f"{live_server.url}/contacts/")
        page.locator("details.assign summary").first.click()
        page.screenshot(path=ARTIFACTS / f"contacts-{language}-390.png", full_page=True)
        assert_no_sideways_scroll(page, f"{language} 390")
        expect(page.locator("table.contacts thead")).to_be_hidden()
        rows = page.locator("table.contacts tbody tr")
        assert rows.first.evaluate("r => getComputedStyle(r).display") == "grid"
        widest = page.evaluate(
            "Math.max(...[...document.querySelectorAll('table.contacts tbody tr, table.contacts td, "
            "table.contacts th[scope=row]')].map(e => e.getBoundingClientRect().right))"
        )
        assert widest <= PHONE["width"], widest
        assert_no_cell_overflows(page, f"{language} 390")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_queue_reads_oldest_first_with_ages_and_assigns_in_bulk(live_server, supervisor):
    site = SourceFactory(name="Site form")
    anna = OperatorFactory(name="Anna", load_limit=20)
    WeightFactory(source=site, operator=anna)
    now = timezone.now()
    for external_id, ago in [("newest", timedelta(minutes=7)), ("oldest", timedelta(hours=26, minutes=3))]:
        ContactFactory(
            lead=LeadFactory(external_id=external_id),
            source=site,
            operator=None,
            unassigned_reason=UnassignedReason.ALL_AT_LIMIT,
            created_at=now - ago,
        )
    ContactFactory(
        lead=LeadFactory(external_id="middle"),
        source=site,
        operator=None,
        created_at=now - timedelta(hours=2),
    )
    ContactFactory(source=site, operator=anna)
    cookie = session_for(supervisor)

    with chromium() as browser:
        from playwright.sync_api import expect

        page = open_page(browser, live_server, cookie, viewport=DESKTOP, language="en")
        page.goto(f"{live_server.url}/")
        page.get_by_role("link", name="Queue (3)").click()
        expect(page.get_by_role("heading", name="Queue")).to_be_visible()
        rows = page.locator("table.queue tbody tr")
        expect(rows).to_have_count(3)
        expect(rows.locator("th[scope=row]")).to_have_text(["oldest", "middle", "newest"])
        expect(rows.locator("td.age")).to_have_text(["waiting 1 d 2 h", "waiting 2 h", "waiting 7 min"])
        expect(rows.first).to_contain_text("every active operator is at the load limit")
        assert_no_sideways_scroll(page, "queue 1366")
        page.screenshot(path=ARTIFACTS / "queue-1366.png", full_page=True)

        # Tick the two oldest and give them to Anna.
        page.get_by_label("Tick the contact of oldest").check()
        page.get_by_label("Tick the contact of middle").check()
        page.get_by_label("assign to").select_option(label="Anna — 1 / 20")
        page.get_by_role("button", name="Assign", exact=True).click()
        expect(page.locator(".messages")).to_contain_text("2 contacts assigned to Anna.")
        expect(page.locator("table.queue tbody tr th[scope=row]")).to_have_text(["newest"])
        expect(page.get_by_role("link", name="Queue (1)")).to_be_visible()
        page.screenshot(path=ARTIFACTS / "queue-after-bulk-assign.png", full_page=True)

        page.set_viewport_size(PHONE)
        page.reload()
        assert_no_sideways_scroll(page, "queue 390")
        page.screenshot(path=ARTIFACTS / "queue-390.png", full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_russian_pages_and_the_russian_admin_write_dates_one_way_with_the_zone(live_server, supervisor):
    moment = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    contact = ContactFactory(
        lead=LeadFactory(external_id="tg-77"), source=SourceFactory(name="Bot"), created_at=moment
    )
    cookie = session_for(supervisor)

    with chromium() as browser:
        from playwright.sync_api import expect

        page = open_page(browser, live_server, cookie, viewport=DESKTOP, language="ru")
        page.goto(f"{live_server.url}/contacts/")
        expect(page.locator("table.contacts tbody tr").first).to_contain_text("04.03.2026 05:06 UTC")
        expect(page.get_by_label("С", exact=True)).to_have_attribute("placeholder", "31.12.2026")
        page.get_by_label("С", exact=True).fill("04.03.2026")
        page.get_by_label("По (включительно)").fill("2026-03-04")  # ISO, as links carry it
        page.get_by_role("button", name="Показать").click()
        expect(page.locator("table.contacts tbody tr")).to_have_count(1)
        page.screenshot(path=ARTIFACTS / "ru-contacts-dates.png", full_page=True)

        page.goto(f"{live_server.url}/admin/crm/contact/")
        expect(page.locator("td.field-created_at").first).to_have_text("04.03.2026 05:06 UTC")
        page.goto(f"{live_server.url}/admin/crm/contact/{contact.pk}/change/")
        expect(page.locator(".field-created_at .readonly")).to_have_text("04.03.2026 05:06 UTC")
        page.screenshot(path=ARTIFACTS / "ru-admin-contact-dates.png", full_page=True)
