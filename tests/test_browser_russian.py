"""The Russian pages in a real browser, on a laptop (1,366 × 900) and a phone (390 × 844): the dashboard, the
queue, the contact list, the reports, the admin's operator list, a source's page, an operator's history, and
an operator's own My work with a contact offered to her. On each: no
English phrase of ours left (tests/test_i18n.py's check, on the page as the browser has it), no "None", no
stored code, and no text clipped: nothing hidden behind a sideways scroll (the dashboard's capacity table cut
its last column, "само не освободится: нужен с…", at 1,366 px), nothing cut off by its box.

Headless Chromium (Debian's package) through playwright (tests/browser.py): skipped with the reason when
either is missing, failed instead under CI=true. Screenshots go to artifacts/browser/ (ignored by git),
named ru-<page>-<width>.png.
"""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm import services
from crm.choices import AwayReason, Presence, UnassignedReason
from crm.models import Operator, Skill
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory
from distribution import capacity
from distribution.intake import store_contact
from integrations.models import Scope
from integrations.services import create_api_key
from tests.browser import ARTIFACTS, chromium
from tests.test_browser_lists import DESKTOP, PHONE, assert_no_cell_overflows, open_page, session_for
from tests.test_i18n import STORED_CODES, english_left, visible_text

pytestmark = pytest.mark.words

LONG_OPERATOR = "Александра-Константиновна Рождественская-Васильева"

# Text a box cuts off (overflow hidden or an ellipsis), and boxes whose content is wider than they are and
# so hidden behind a sideways scroll. Code samples (<pre>, <code>) may scroll: they are not prose; so may
# what the argument names: Django's admin lists and tabular inlines on a phone, which Django lays out in a
# sideways-scrolling box.
CLIPPED = """
may_scroll => [...document.querySelectorAll('body *')].filter(e => {
  // Django's filter_horizontal arrows hide their words on purpose (an icon; the words for screen readers).
  if (e.closest('pre, code, .visually-hidden, .selector-chooser, .selector-chooseall, .selector-clearall')
      || e.getClientRects().length === 0) return false;
  if (may_scroll && e.matches(may_scroll)) return false;
  const s = getComputedStyle(e);
  const wider = e.scrollWidth > e.clientWidth + 1;
  if (['auto', 'scroll'].includes(s.overflowX)) return wider;
  if (!['hidden', 'clip'].includes(s.overflowX) && s.textOverflow !== 'ellipsis') return false;
  return wider && [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
}).map(e => `${e.tagName.toLowerCase()}.${e.className}: ${e.innerText.trim().slice(0, 50)}`)
"""


@pytest.fixture
def supervisor(django_user_model):
    return django_user_model.objects.create_user("sam", is_staff=True, is_superuser=True)


@pytest.fixture
def centre(db) -> dict:
    """A Russian contact centre with every state the pages word: a full operator with a long name (the next
    slot frees at a moment), a switched-off one, a source nobody works (its contacts wait and will not be
    taken by themselves), contacts waiting past the age limit, changes made by a command, by an API key and
    by a token rotation."""
    now = timezone.now()
    bot = SourceFactory(name="Телеграм-бот весенней акции")
    site = SourceFactory(name="Форма на сайте")  # no operators: nobody can take its contacts
    long_named = OperatorFactory(name=LONG_OPERATOR, load_limit=1)
    anna = OperatorFactory(name="Анна", load_limit=2)
    boris = OperatorFactory(name="Борис", is_active=False)
    for operator, weight in ((long_named, 3), (anna, 1), (boris, 1)):
        WeightFactory(source=bot, operator=operator, weight=weight)
    for n, operator in enumerate((long_named, anna)):
        ContactFactory(
            lead=LeadFactory(external_id=f"tg-{n}", name=f"Клиент {n}"),
            source=bot,
            operator=operator,
            message="Перезвоните, пожалуйста, после шести",
            created_at=now - timedelta(hours=3 - n),  # the long-named operator's slot frees first
            assigned_at=now - timedelta(hours=3 - n),
        )
    for n, (source, reason, age) in enumerate(
        [
            (bot, UnassignedReason.ALL_AT_LIMIT, 1),
            (site, UnassignedReason.NO_OPERATORS, 80),
            (site, UnassignedReason.NO_OPERATORS, 3),
        ]
    ):
        ContactFactory(
            lead=LeadFactory(external_id=f"site-{n}", name=f"Мария {n}"),
            source=source,
            operator=None,
            unassigned_reason=reason,
            message="Хочу узнать о доставке в Казань и о сроках",
            created_at=now - timedelta(hours=age),
            explanation={"candidates": [], "draws": [], "chosen": None, "reason": reason},
        )
    capacity.update_operator(operator=anna, load_limit=1)  # a command: nobody signed in
    Skill.objects.bulk_create([Skill(name="ru"), Skill(name="en")])
    capacity.set_operator_skills(operator=anna, names=["ru", "en"])  # in the history as "навыки"
    _key, secret = create_api_key(name="Телефония", scope=Scope.WRITE)
    through_api = Client(headers={"Authorization": f"Bearer {secret}"})
    assert (
        through_api.patch(
            f"/api/v1/operators/{anna.pk}", {"name": "Анна Петрова"}, content_type="application/json"
        ).status_code
        == 200
    )
    services.regenerate_token(source=bot, grace=timedelta(hours=1))
    return {"bot": bot, "anna": anna}


def pages(centre: dict) -> dict[str, str]:
    return {
        "dashboard": reverse("dashboard"),
        "queue": reverse("queue"),
        "contacts": reverse("contact_list"),
        "reports": reverse("reports"),
        "admin-operators": reverse("admin:crm_operator_changelist"),
        "admin-source": reverse("admin:crm_source_change", args=[centre["bot"].pk]),
        "admin-history": reverse("admin:crm_operator_history", args=[centre["anna"].pk]),
        "changes": reverse("change_list"),
    }


def check_russian_page(page, what: str, *, phone: bool) -> None:
    """No English of ours, no "None", no stored code, no sideways scroll, nothing clipped or overflowing."""
    html = page.content()
    assert '<html lang="ru"' in html, what
    assert english_left(html) == [], f"{what}: English left"
    text = visible_text(html)
    assert not re.search(r"\bNone\b", text), f"{what}: None"
    assert not STORED_CODES.search(text), f"{what}: a stored code"
    fits = page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert fits, f"{what}: the page scrolls sideways"
    may_scroll = "#changelist-form .results, .inline-group" if phone else ""
    assert page.evaluate(CLIPPED, may_scroll) == [], f"{what}: text clipped"
    assert_no_cell_overflows(page, what)  # nor running into the next cell


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_russian_pages_have_no_english_left_and_no_text_clipped(live_server, supervisor, centre):
    cookie = session_for(supervisor)
    urls = pages(centre)

    with chromium() as browser:
        for viewport in (DESKTOP, PHONE):
            page = open_page(browser, live_server, cookie, viewport=viewport, language="ru")
            for name, url in urls.items():
                what = f"{name} at {viewport['width']} px"
                page.goto(f"{live_server.url}{url}")
                page.screenshot(path=ARTIFACTS / f"ru-{name}-{viewport['width']}.png", full_page=True)
                check_russian_page(page, what, phone=viewport == PHONE)
            page.context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_my_work_is_russian_and_whole_in_a_browser(live_server, django_user_model, centre):
    """An operator's own page: the presence buttons with the away reasons ("Отошёл — совещание"), a contact
    offered to her with its deadline and buttons, her shift; the long name in the header."""
    user = django_user_model.objects.create_user("alexandra")
    operator = Operator.objects.get(name=LONG_OPERATOR)
    capacity.update_operator(operator=operator, load_limit=3, timezone="Europe/Moscow")
    Operator.objects.filter(pk=operator.pk).update(user=user)
    calls = SourceFactory(name="Входящие звонки", accept_within_seconds=90)
    WeightFactory(source=calls, operator=operator, weight=1)
    store_contact(source=calls, external_id="call-1", name="Ольга", message="Перезвоните после шести")
    capacity.update_operator(
        operator=Operator.objects.get(pk=operator.pk),
        presence=Presence.AWAY,
        presence_reason=AwayReason.MEETING,
        presence_until=timezone.now() + timedelta(minutes=30),
    )
    cookie = session_for(user)

    with chromium() as browser:
        for viewport in (DESKTOP, PHONE):
            page = open_page(browser, live_server, cookie, viewport=viewport, language="ru")
            page.goto(f"{live_server.url}{reverse('my_work')}")
            page.screenshot(path=ARTIFACTS / f"ru-my-work-{viewport['width']}.png", full_page=True)
            check_russian_page(page, f"my work at {viewport['width']} px", phone=viewport == PHONE)
            text = visible_text(page.content())
            assert "Моя работа" in text and "Отошёл — совещание" in text and "Принять" in text
            page.context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_capacity_tables_last_column_is_on_screen_in_russian(live_server, supervisor, centre):
    """The words for a source nobody works and for the next free slot, whole and inside the table's box."""
    cookie = session_for(supervisor)

    with chromium() as browser:
        from playwright.sync_api import expect

        for viewport in (DESKTOP, PHONE):
            page = open_page(browser, live_server, cookie, viewport=viewport, language="ru")
            page.goto(f"{live_server.url}/")
            wrap = page.locator("section[aria-labelledby=capacity-title] .table-wrap")
            must_act = page.locator("table.capacity td", has_text="само не освободится: нужен супервизор")
            frees = page.locator("table.capacity td", has_text=LONG_OPERATOR)
            expect(must_act).to_have_count(1)
            expect(frees).to_have_count(1)
            box = wrap.bounding_box()
            for cell in (must_act, frees):
                edge = cell.bounding_box()
                assert edge["x"] + edge["width"] <= box["x"] + box["width"] + 1, (viewport, cell.inner_text())
                assert cell.evaluate("c => c.scrollWidth <= c.clientWidth + 1"), cell.inner_text()
            assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth + 1"), viewport
            wrap.screenshot(path=ARTIFACTS / f"ru-capacity-{viewport['width']}.png")
            page.context.close()
