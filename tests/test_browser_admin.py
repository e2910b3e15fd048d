"""The admin's source page in a real browser (headless Chromium, as tests/test_browser.py): a supervisor
edits a weight and a skill list on a page opened before the API added an operator and changed the
strategy; the save writes what the supervisor changed and undoes nothing of the API's."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from crm import services
from crm.choices import Strategy
from crm.models import Skill, Source
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory
from distribution import capacity
from tests.browser import ARTIFACTS, chromium

PASSWORD = "browser-test-password"


def meanwhile(change: Callable[[], object]) -> None:
    """A change made by someone else while the page is open, on a thread of its own: in the browser's
    thread playwright runs an event loop and the ORM refuses to work."""

    def run() -> None:
        try:
            change()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(run).result()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_source_page_saved_after_an_api_change_keeps_it(live_server, django_user_model):
    django_user_model.objects.create_user("sam", password=PASSWORD, is_staff=True, is_superuser=True)
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    bot = SourceFactory(name="Telegram bot")
    WeightFactory(source=bot, operator=anna, weight=3)
    ru = Skill.objects.create(name="ru")

    with chromium() as browser:
        from playwright.sync_api import expect

        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/admin/crm/source/{bot.pk}/change/")
        page.get_by_label("Username").fill("sam")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("#id_weights-0-weight")).to_have_value("3")

        # While the page is open, an integration adds Boris and switches the source to round robin.
        meanwhile(lambda: capacity.set_weights(source=bot, weights={anna.pk: 3, boris.pk: 2}))
        meanwhile(lambda: services.update_source(source=bot, strategy=Strategy.ROUND_ROBIN))

        page.locator("#id_weights-0-weight").fill("5")
        page.locator("#id_required_skills_from").select_option(label="ru")
        page.locator("#id_required_skills_add").click()
        page.screenshot(path=ARTIFACTS / "admin-source-edit.png", full_page=True)
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

    stored = Source.objects.get(pk=bot.pk)
    assert dict(stored.weights.values_list("operator_id", "weight")) == {anna.pk: 5, boris.pk: 2}
    assert list(stored.required_skills.all()) == [ru]
    assert stored.strategy == Strategy.ROUND_ROBIN
