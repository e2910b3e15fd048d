"""The staff pages in a real browser: headless Chromium (Debian's package) against the live test server.

Skipped, with the reason in the summary, when chromium or the playwright package is missing, and failed
instead under CI=true (tests/browser.py); .ci/run installs chromium first. A screenshot of each step goes
to artifacts/browser/ (ignored by git).
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.eligibility import Candidate
from crm.models import UnassignedReason
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory
from distribution.selection import decide
from tests.browser import ARTIFACTS, chromium

PASSWORD = "browser-test-password"


def make_data(django_user_model) -> None:
    # A supervisor: staff pages, the admin and the hand-assignment buttons.
    django_user_model.objects.create_user("sam", password=PASSWORD, is_staff=True, is_superuser=True)
    anna, boris = OperatorFactory(name="Anna", load_limit=4), OperatorFactory(name="Boris", load_limit=2)
    bot = SourceFactory(name="Telegram bot")
    WeightFactory(source=bot, operator=anna, weight=3)
    WeightFactory(source=bot, operator=boris, weight=1)
    now = timezone.now()
    ivan = LeadFactory(external_id="tg-1001", name="Ivan Petrov")
    # The draw landed on Anna at once (Boris's load never counted): the explanation as the service writes it.
    seen = [
        Candidate(op.pk, w, op.load_limit, load=n, name=op.name)
        for op, w, n in [(anna, 3, 0), (boris, 1, None)]
    ]
    why = decide(seen, draws=[anna.pk], chosen=seen[0]).explanation
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
    # A source nobody can take contacts from: its only operator is full, so the dashboard warns up front.
    form = SourceFactory(name="Site form")
    vera = OperatorFactory(name="Vera", load_limit=1)
    WeightFactory(source=form, operator=vera)
    ContactFactory(
        lead=LeadFactory(external_id="form-1"),
        source=form,
        operator=vera,
        created_at=now - timedelta(hours=3),
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_member_logs_in_and_browses_leads_and_contacts(live_server, django_user_model):
    make_data(django_user_model)

    with chromium() as browser:
        from playwright.sync_api import expect

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
        # Capacity up front: the full source is named, with who is full and when a slot frees.
        alert = page.locator(".alerts .alert")
        expect(alert).to_have_count(1)
        expect(alert).to_contain_text("Site form: nobody can take contacts")
        expect(alert).to_contain_text("Full: Vera.")
        expect(alert).to_contain_text("Vera can take contacts again at")
        loads = page.get_by_role("region", name="Operator load")
        expect(loads.get_by_role("row", name="Anna")).to_contain_text("2 / 4")
        expect(loads.get_by_role("row", name="Boris")).to_contain_text("2 / 2 full")
        expect(loads.locator("svg.load-line")).to_have_count(3)
        expect(page.locator(".backlog .big-number")).to_have_text("1")
        expect(page.locator(".share", has_text="Telegram bot")).to_contain_text("weight 75.0%")
        # A chart: the bot's last hour has two bars' worth (assigned and waiting), drawn in SVG.
        trends = page.get_by_role("region", name="Contacts per source")
        chart = trends.locator("article", has_text="Telegram bot").locator("svg.bar-chart").first
        expect(chart).to_be_visible()
        assert (
            chart.locator("rect.bar-assigned").count() >= 1 and chart.locator("rect.bar-waiting").count() == 1
        )
        page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)

        # The month per day is on the Trends page, one click away.
        trends.get_by_role("link", name="Per day over the last 30 days").click()
        expect(page.get_by_role("heading", name="Trends")).to_be_visible()
        expect(page.locator("svg.bar-chart")).to_have_count(4)  # two sources, by hour and by day
        page.screenshot(path=ARTIFACTS / "trends.png", full_page=True)
        page.go_back()

        # Click-through: an operator's name opens their contacts.
        loads.get_by_role("link", name="Boris", exact=True).click()
        expect(page).to_have_url(re.compile(r"/contacts/\?operator=\d+$"))
        expect(page.locator("table.data tbody tr")).to_have_count(2)
        expect(page.locator("#id_operator option:checked")).to_have_text("Boris")
        page.screenshot(path=ARTIFACTS / "contacts-of-boris.png", full_page=True)

        page.get_by_role("link", name="Leads").click()
        page.get_by_label("Search external id or name").fill("petrov")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("table.data tbody tr")).to_have_count(1)
        expect(page.locator("table.data")).to_contain_text("tg-1001")
        expect(page.locator("table.data")).to_contain_text("waiting")  # the latest contact waits
        page.screenshot(path=ARTIFACTS / "leads-search.png", full_page=True)
        page.get_by_role("link", name="tg-1001").first.click()

        expect(page.get_by_role("heading", name="Lead tg-1001")).to_be_visible()
        expect(page.locator(".timeline")).to_contain_text("Hello, I want a quote")
        expect(page.locator(".timeline")).to_contain_text("every active operator is at the load limit")
        page.get_by_text("Why this operator").click()
        why = page.locator(".why[open]")
        expect(why).to_contain_text("Anna got it in a weighted draw among 2 operators who could take it")
        why.get_by_text("Exact numbers").click()
        expect(why.locator(".explanation-table")).to_contain_text("not checked / 2")
        page.screenshot(path=ARTIFACTS / "lead.png", full_page=True)

        page.get_by_role("link", name="Contacts").click()
        expect(page.locator("table.data tbody tr")).to_have_count(6)
        page.get_by_label("Unassigned only").check()
        page.get_by_role("button", name="Filter").click()
        expect(page).to_have_url(re.compile(r"/contacts/\?.*unassigned=1"))
        expect(page.locator("table.data tbody tr")).to_have_count(1)
        expect(page.locator("table.data")).to_contain_text("tg-1001")
        expect(page.locator("table.data")).to_contain_text("waiting")
        page.screenshot(path=ARTIFACTS / "contacts-unassigned.png", full_page=True)

        # A supervisor hands the waiting contact to Anna from the list, and lands back on it.
        page.get_by_text("Assign…").click()
        page.get_by_label("Operator", exact=True).last.select_option(label="Anna — 2 / 4")
        page.screenshot(path=ARTIFACTS / "contacts-assign-open.png", full_page=True)
        page.get_by_role("button", name="Assign to this operator").click()
        expect(page.locator(".messages")).to_contain_text("is now with Anna")
        expect(page).to_have_url(re.compile(r"/contacts/\?.*unassigned=1"))
        expect(page.locator("table.data tbody tr")).to_have_count(0)

        # The source page in the admin: webhook URL, ready curl, and the regenerate flow.
        page.goto(f"{live_server.url}/admin/crm/source/")
        page.get_by_role("link", name="Site form").click()
        expect(page.locator("fieldset.webhook")).to_contain_text("/api/contacts/")
        expect(page.locator("pre.curl")).to_contain_text("Authorization: Bearer $SOURCE_TOKEN")
        page.screenshot(path=ARTIFACTS / "admin-source.png", full_page=True)
        page.get_by_role("link", name="Regenerate token…").click()
        page.get_by_label("Keeps working for 1 hour, while the callers are switched over").check()
        page.screenshot(path=ARTIFACTS / "admin-regenerate-confirm.png", full_page=True)
        page.get_by_role("button", name="Yes, make a new webhook token").click()
        token = page.locator("code.new-secret").inner_text()
        assert len(token) >= 40
        expect(page.locator("pre.curl")).to_contain_text(f"Authorization: Bearer {token}")
        expect(page.locator("body")).to_contain_text("keeps working until")
        page.screenshot(path=ARTIFACTS / "admin-token-once.png", full_page=True)
        page.reload()  # the token was shown once: a reload shows it no more, and makes no new one
        expect(page.locator("body")).to_contain_text("was shown once")
        expect(page.locator("body")).not_to_contain_text(token)
        page.get_by_role("link", name="Back to Site form").click()
        expect(page.locator("body")).not_to_contain_text(token)
        expect(page.locator("fieldset.webhook")).to_contain_text("keeps working until")

        # The regeneration is on the Changes page: who, when, and the token's new prefix.
        page.goto(f"{live_server.url}/changes/")
        first = page.locator("li.change").first
        expect(first).to_contain_text("sam")
        expect(first).to_contain_text("Source Site form — changed")
        expect(first).to_contain_text(f"→ {token[:8]}")
        page.screenshot(path=ARTIFACTS / "changes.png", full_page=True)

        # A phone: lists become stacked rows, and no page scrolls sideways.
        page.set_viewport_size({"width": 390, "height": 844})
        for name, url in [
            ("dashboard", "/"),
            ("contacts", "/contacts/"),
            ("changes", "/changes/"),
            ("leads", "/leads/"),
        ]:
            page.goto(live_server.url + url)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name
            page.screenshot(path=ARTIFACTS / f"{name}-phone.png", full_page=True)
        # Stacked: each row is a block of labelled cells, the table head hidden.
        expect(page.locator("table.data thead")).to_be_hidden()
        row_display = page.locator("table.data tbody tr").first.evaluate("r => getComputedStyle(r).display")
        assert row_display != "table-row"

        # The API docs are in the menu, and Swagger UI leads back.
        page.set_viewport_size({"width": 1280, "height": 900})
        page.get_by_role("link", name="API docs").click()
        expect(page.locator(".information-container")).to_contain_text("Leadflow integration API")
        page.get_by_role("button", name="Back to Leadflow").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        expect(page.locator(".messages")).to_have_text("You are logged out.")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_member_walks_once_in_russian(live_server, django_user_model):
    """The switcher in the header turns the whole product Russian and keeps it so; screenshots ru-*.png."""
    make_data(django_user_model)

    with chromium() as browser:
        from playwright.sync_api import expect

        # An English browser: the page starts in English, the switcher changes it.
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-US")
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.get_by_role("button", name="Русский").click()
        expect(page.get_by_role("heading", name="Вход")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "ru")
        page.screenshot(path=ARTIFACTS / "ru-login.png")
        page.get_by_label("Имя пользователя").fill("sam")
        page.get_by_label("Пароль").fill(PASSWORD)
        page.get_by_role("button", name="Войти").click()

        # Remembered after logging in: the dashboard is Russian.
        expect(page.get_by_role("heading", name="Сводка")).to_be_visible()
        expect(page.locator(".alerts .alert")).to_contain_text(
            "Site form: никто не может принимать обращения"
        )
        page.screenshot(path=ARTIFACTS / "ru-dashboard.png", full_page=True)

        page.get_by_role("link", name="Лиды").click()
        page.get_by_label("Поиск по внешнему ID или имени").fill("petrov")
        page.get_by_role("button", name="Найти").click()
        expect(page.locator("table.data tbody tr")).to_have_count(1)
        expect(page.locator("table.data")).to_contain_text("ожидает")
        page.screenshot(path=ARTIFACTS / "ru-leads.png", full_page=True)
        page.get_by_role("link", name="tg-1001").first.click()
        expect(page.get_by_role("heading", name="Лид tg-1001")).to_be_visible()
        expect(page.locator(".timeline")).to_contain_text("все активные операторы достигли лимита нагрузки")
        page.get_by_text("Почему этот оператор").click()
        expect(page.locator(".why[open]")).to_contain_text("Обращение досталось оператору Anna")
        page.screenshot(path=ARTIFACTS / "ru-lead.png", full_page=True)

        page.get_by_role("link", name="Обращения").click()
        expect(page.locator("table.data tbody tr")).to_have_count(6)
        page.screenshot(path=ARTIFACTS / "ru-contacts.png", full_page=True)

        page.get_by_role("link", name="Изменения").click()
        page.screenshot(path=ARTIFACTS / "ru-changes.png", full_page=True)

        # The admin speaks Russian too, our pages in it included.
        page.goto(f"{live_server.url}/admin/crm/source/")
        page.get_by_role("link", name="Site form").click()
        expect(page.locator("fieldset.webhook")).to_contain_text("Вебхук")
        page.screenshot(path=ARTIFACTS / "ru-admin-source.png", full_page=True)
        page.goto(f"{live_server.url}/admin/crm/contact/")
        page.screenshot(path=ARTIFACTS / "ru-admin-contacts.png", full_page=True)

        # And back to English with the same switcher.
        page.goto(f"{live_server.url}/")
        page.get_by_role("button", name="English").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
