"""Russian end to end: the catalogue is complete and compiled, plural forms are right, every staff page and the
admin pages we customised render in Russian with no English phrase of ours left, and the switcher remembers.

"Of ours" is read from the catalogue itself (locale/ru/LC_MESSAGES/django.po): the literal parts of every
msgid, compared with the text a person sees on the page (code samples excepted). Django's own admin texts
are Django's business and are not checked here.
"""

import ast
import gettext
import html
import json
import random
import re
import shlex
from dataclasses import dataclass, field
from datetime import time, timedelta
from functools import cache
from html.parser import HTMLParser
from http import HTTPStatus
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import factory
import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import ngettext

from config import nginx
from config.utf8json import json_response
from crm.choices import (
    Actor,
    AssignmentPath,
    AwayReason,
    Exclusion,
    LoadState,
    Presence,
    ScheduleExceptionKind,
    Strategy,
    UnassignedReason,
)
from crm.eligibility import Candidate
from crm.models import Contact, Operator, Skill, Source
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory
from distribution import capacity, offers, schedules
from distribution.intake import store_contact
from distribution.manual import assign_manually
from distribution.selection import decide
from integrations.api.validation import MESSAGES
from integrations.api.validation import message as validation_message
from integrations.models import Scope
from integrations.services import create_api_key

pytestmark = pytest.mark.words

PO = Path(settings.BASE_DIR) / "locale" / "ru" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


# --- The catalogue ---------------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    obsolete: bool = False


@cache
def catalogue() -> tuple[Entry, ...]:
    """The .po file's entries (a small reader: the project has no polib), the header first."""
    entries, entry, target = [], Entry(), None
    for line in PO.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if target is not None:
                entries.append(entry)
            entry, target = Entry(), None
        elif line.startswith("#~"):
            entry.obsolete = True
        elif line.startswith("#,"):
            entry.flags += [flag.strip() for flag in line[2:].split(",")]
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            add = ast.literal_eval(line)
            if isinstance(target, int):
                entry.msgstr[target] += add
            else:
                setattr(entry, target, getattr(entry, target) + add)
        else:
            keyword, _, value = line.partition(" ")
            if keyword.startswith("msgstr"):
                target = int(keyword[7:-1]) if "[" in keyword else 0
                entry.msgstr[target] = ast.literal_eval(value)
            else:
                target = keyword
                setattr(entry, keyword, ast.literal_eval(value))
    return tuple(entries)


def messages() -> list[Entry]:
    return [entry for entry in catalogue() if entry.msgid and not entry.obsolete]


def test_the_catalogue_is_russian_with_three_plural_forms():
    header = catalogue()[0]
    assert header.msgid == "" and "fuzzy" not in header.flags
    assert "Language: ru\n" in header.msgstr[0]
    assert "nplurals=3;" in header.msgstr[0]


def test_every_entry_is_translated_and_none_is_fuzzy():
    assert len(messages()) > 100
    fuzzy = [entry.msgid for entry in messages() if "fuzzy" in entry.flags]
    empty = [entry.msgid for entry in messages() if not entry.msgstr or not all(entry.msgstr.values())]
    assert fuzzy == [] and empty == []
    plural = [entry for entry in messages() if entry.msgid_plural is not None]
    assert plural and all(sorted(entry.msgstr) == [0, 1, 2] for entry in plural)


def test_the_committed_mo_is_compiled_from_the_po():
    """Django reads only the .mo: a translation edited in the .po but not compiled would never show."""
    with MO.open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    stale = []
    for entry in messages():
        if entry.msgid_plural is None:
            got = (
                compiled.pgettext(entry.msgctxt, entry.msgid)
                if entry.msgctxt
                else compiled.gettext(entry.msgid)
            )
            if got != entry.msgstr[0]:
                stale.append(entry.msgid)
        else:
            for n, form in ((1, 0), (2, 1), (5, 2)):
                got = (
                    compiled.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, n)
                    if entry.msgctxt
                    else compiled.ngettext(entry.msgid, entry.msgid_plural, n)
                )
                if got != entry.msgstr[form]:
                    stale.append(entry.msgid)
    assert stale == [], "run `manage.py compilemessages` and commit the .mo"


# --- Plural forms ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, expected",
    [
        (1, "1 обращение распределено заново."),
        (2, "2 обращения распределены заново."),
        (5, "5 обращений распределено заново."),
        (21, "21 обращение распределено заново."),
        (11, "11 обращений распределено заново."),
    ],
)
def test_plural_forms_in_code(n, expected):
    with translation.override("ru"):
        said = ngettext("%(count)d contact routed again.", "%(count)d contacts routed again.", n) % {
            "count": n
        }
    assert said == expected


@pytest.mark.parametrize(
    "n, expected", [(1, "1 обращение:"), (2, "2 обращения:"), (5, "5 обращений:"), (21, "21 обращение:")]
)
def test_plural_forms_in_templates(n, expected):
    # The sentence of templates/admin/distribution/assign.html.
    template = Template(
        "{% load i18n %}{% blocktranslate count counter=n %}{{ counter }} contact:{% plural %}"
        "{{ counter }} contacts:{% endblocktranslate %}"
    )
    with translation.override("ru"):
        assert template.render(Context({"n": n})) == expected


# --- Pages in Russian ------------------------------------------------------------------------------


class VisibleText(HTMLParser):
    """The text a person reads: element text plus titles, placeholders, labels of buttons; no scripts,
    styles or code samples (a curl example is code, not prose). Not `alt`: Django's admin writes its
    search icon's alt="Search" in English, untranslatably, in its own template."""

    HIDDEN = {"script", "style", "pre", "code", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        attributes = dict(attrs)
        for name in ("title", "placeholder", "aria-label"):
            if attributes.get(name):
                self.parts.append(attributes[name])
        if tag == "input" and attributes.get("type") in ("submit", "button") and attributes.get("value"):
            self.parts.append(attributes["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = VisibleText()
    parser.feed(page)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


@cache
def english_phrases() -> frozenset[str]:
    """The literal pieces of our msgids between placeholders, long enough to mean something (four letters
    or more), unless the Russian keeps them as they are (a header name, a product name)."""
    phrases = set()
    for entry in messages():
        russian = " ".join(entry.msgstr.values())
        for text in filter(None, (entry.msgid, entry.msgid_plural)):
            for piece in re.split(r"%\(\w+\)[sd]|%[sd]", html.unescape(text)):
                piece = re.sub(r"\s+", " ", piece).strip(" .,:;!?()[]—–-…“”«»\"'/")
                if len(re.findall(r"[A-Za-z]", piece)) >= 4 and piece not in html.unescape(russian):
                    phrases.add(piece)
    return frozenset(phrases)


# Codes the database and the explanation store: a page says them in words, never as they are stored.
STORED_CODES = re.compile(
    r"(?<![\w-])(?:"
    + "|".join(
        code
        for choices in (UnassignedReason, Exclusion, AssignmentPath, Actor, LoadState)
        for code in choices.values
        if "_" in code
    )
    + r")(?![\w-])|\bapi:\w"
)


def english_left(page: str) -> list[str]:
    # HTTP header names stay English on purpose (django-axes' "HTTP Accept" is not our "Accept" button).
    text = re.sub(r"\bHTTP [A-Z][\w-]*", "", visible_text(page))
    return sorted(
        phrase
        for phrase in english_phrases()
        if re.search(r"(?<![A-Za-z])" + re.escape(phrase) + r"(?![A-Za-z])", text)
    )


@pytest.fixture
def data(db) -> dict:
    """A small contact centre with Russian names, so that nothing English on a page comes from the data."""
    anna, boris = OperatorFactory(name="Анна", load_limit=2), OperatorFactory(name="Борис", load_limit=1)
    off = OperatorFactory(name="Вера", is_active=False)
    bot = SourceFactory(name="Телеграм-бот")
    form = SourceFactory(name="Форма на сайте")
    WeightFactory(source=bot, operator=anna, weight=3)
    WeightFactory(source=bot, operator=boris, weight=1)
    WeightFactory(source=form, operator=off, weight=1)
    now = timezone.now()
    ivan = LeadFactory(external_id="tg-1001", name="Иван Петров")
    # Boris was full, so the draw landed on Anna: the explanation as the service writes it.
    seen = [
        Candidate(op.pk, w, op.load_limit, load=n, name=op.name) for op, w, n in [(anna, 3, 0), (boris, 1, 1)]
    ]
    why = {**decide(seen, draws=[anna.pk], chosen=seen[0]).explanation, "path": "draw"}
    chosen = ContactFactory(lead=ivan, source=bot, operator=anna, message="Здравствуйте", explanation=why)
    ContactFactory(lead=ivan, source=bot, operator=boris, created_at=now - timedelta(hours=2))
    waiting = ContactFactory(
        source=form,
        operator=None,
        unassigned_reason=UnassignedReason.ALL_INACTIVE,
        lead=LeadFactory(external_id="site-7", name="Мария"),
        created_at=now - timedelta(hours=80),
        explanation={"candidates": [], "draws": [], "chosen": None, "reason": "all_inactive"},
    )
    # A key, and a change made through it: the history names the key ("api:Телефония" as stored).
    key, secret = create_api_key(name="Телефония", scope=Scope.WRITE)
    through_api = Client(headers={"Authorization": f"Bearer {secret}"})
    assert (
        through_api.patch(
            f"/api/v1/operators/{boris.pk}", {"load_limit": 2}, content_type="application/json"
        ).status_code
        == 200
    )
    return {
        "anna": anna,
        "boris": boris,
        "off": off,
        "bot": bot,
        "form": form,
        "ivan": ivan,
        "chosen": chosen,
        "waiting": waiting,
        "key": key,
    }


@pytest.fixture
def russian_admin(admin_client):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    return admin_client


def staff_pages(data: dict) -> dict[str, str]:
    return {
        "dashboard": reverse("dashboard"),
        "leads": reverse("lead_list"),
        "lead search": reverse("lead_list") + "?q=nobody-like-this",
        "lead": reverse("lead_detail", args=[data["ivan"].pk]),
        "contacts": reverse("contact_list"),
        "waiting contacts": reverse("contact_list") + "?unassigned=1",
        "changes": reverse("change_list"),
        "changes filtered": reverse("change_list")
        + f"?operator={data['boris'].pk}&who=api:Телефония&from={timezone.localdate():%d.%m.%Y}",
        "changes with a wrong day": reverse("change_list") + "?from=31.02.2026",
        "queue": reverse("queue"),
        "contact assign": reverse("contact_assign", args=[data["waiting"].pk]),
        "dashboard searched": reverse("dashboard") + "?op_q=Анна",
        "dashboard of a source": reverse("dashboard") + f"?op_source={data['bot'].pk}&op_page=1",
    }


def admin_pages(data: dict) -> dict[str, str]:
    return {
        "admin index": reverse("admin:index"),
        "operators": reverse("admin:crm_operator_changelist"),
        "operator": reverse("admin:crm_operator_change", args=[data["off"].pk]),
        "operator that cannot be deleted": reverse("admin:crm_operator_delete", args=[data["anna"].pk]),
        "sources": reverse("admin:crm_source_changelist"),
        "new source": reverse("admin:crm_source_add"),
        "source with weights": reverse("admin:crm_source_change", args=[data["bot"].pk]),
        "token regeneration": reverse("admin:crm_source_rotate", args=[data["bot"].pk]),
        "leads": reverse("admin:crm_lead_changelist"),
        "lead search": reverse("admin:crm_lead_changelist") + "?q=tg",
        "lead": reverse("admin:crm_lead_change", args=[data["ivan"].pk]),
        "contacts": reverse("admin:crm_contact_changelist"),
        "unassigned contacts": reverse("admin:crm_contact_changelist") + "?assignment=unassigned",
        "contact with its explanation": reverse("admin:crm_contact_change", args=[data["chosen"].pk]),
        "waiting contact": reverse("admin:crm_contact_change", args=[data["waiting"].pk]),
        "API keys": reverse("admin:integrations_apikey_changelist"),
        "new API key": reverse("admin:integrations_apikey_add"),
        "API key": reverse("admin:integrations_apikey_change", args=[data["key"].pk]),
        "API key rotation": reverse("admin:integrations_apikey_rotate", args=[data["key"].pk]),
        "new operator": reverse("admin:crm_operator_add"),
        "operator deletion": reverse("admin:crm_operator_delete", args=[data["off"].pk]),
        "operator history": reverse("admin:crm_operator_history", args=[data["boris"].pk]),
        "operator version": reverse(
            "admin:crm_operator_simple_history", args=[data["boris"].pk, data["boris"].history.first().pk]
        ),
        "source history": reverse("admin:crm_source_history", args=[data["bot"].pk]),
        "sign-in lockout": reverse("admin:app_list", args=["axes"]),
        "access attempts": reverse("admin:axes_accessattempt_changelist"),
        "access logs": reverse("admin:axes_accesslog_changelist"),
        "access failures": reverse("admin:axes_accessfailurelog_changelist"),
    }


def assert_russian(response, name: str, status: int = 200) -> None:
    assert response.status_code == status, name
    page = response.content.decode()
    assert '<html lang="ru"' in page, name
    assert english_left(page) == [], f"{name}: English left on the page"
    text = visible_text(page)
    assert not re.search(r"\bNone\b", text), f"{name}: None on the page"
    assert not STORED_CODES.search(text), f"{name}: a stored code on the page: {STORED_CODES.search(text)[0]}"


@pytest.mark.parametrize(
    "page",
    [
        "dashboard",
        "leads",
        "lead search",
        "lead",
        "contacts",
        "waiting contacts",
        "changes",
        "changes filtered",
        "changes with a wrong day",
        "queue",
        "contact assign",
        "dashboard searched",
        "dashboard of a source",
    ],
)
def test_staff_pages_are_russian(russian_admin, data, page):
    assert_russian(russian_admin.get(staff_pages(data)[page]), page)


@pytest.mark.parametrize(
    "page",
    [
        "admin index",
        "operators",
        "operator",
        "operator that cannot be deleted",
        "sources",
        "new source",
        "source with weights",
        "token regeneration",
        "leads",
        "lead search",
        "lead",
        "contacts",
        "unassigned contacts",
        "contact with its explanation",
        "waiting contact",
        "API keys",
        "new API key",
        "API key",
        "API key rotation",
        "new operator",
        "operator deletion",
        "operator history",
        "operator version",
        "source history",
        "sign-in lockout",
        "access attempts",
        "access logs",
        "access failures",
    ],
)
def test_customised_admin_pages_are_russian(russian_admin, data, page):
    assert_russian(russian_admin.get(admin_pages(data)[page]), page)


@pytest.fixture
def newer(data, django_user_model) -> dict:
    """The newer features, in Russian words only: Anna signs in to My work, works a weekly schedule in her own
    zone with changed hours today, holds skills; Boris is away for lunch until a set time; a company holiday
    is ahead; a source makes offers (round robin, a required and a preferred skill) and its contacts were
    offered, declined, accepted, closed with a note, let expire, withdrawn through an API key, given by a
    supervisor over a pending offer, and one is offered to Anna now."""
    anna, boris = data["anna"], data["boris"]
    now = timezone.now()
    ru, vip = Skill.objects.create(name="ru"), Skill.objects.create(name="vip")
    anna.skills.add(ru, vip)
    boris.skills.add(ru)
    Operator.objects.filter(pk=anna.pk).update(user=django_user_model.objects.create_user("anna"))
    capacity.update_operator(
        operator=Operator.objects.get(pk=anna.pk), load_limit=9, timezone="Europe/Moscow"
    )
    calls = SourceFactory(
        name="Звонки",
        accept_within_seconds=60,
        missed_offers_before_away=3,
        strategy=Strategy.ROUND_ROBIN,
        relax_preferred_after_seconds=300,
    )
    calls.required_skills.add(ru)
    calls.preferred_skills.add(vip)
    WeightFactory(source=calls, operator=anna, weight=1)
    WeightFactory(source=calls, operator=boris, weight=1)
    rng = random.Random(7)

    def arrive(n: int, name: str, minutes_ago: int) -> Contact:
        return store_contact(
            source=calls,
            external_id=f"call-{n}",
            name=name,
            message="Перезвоните, пожалуйста",
            now=now - timedelta(minutes=minutes_ago),
            rng=rng,
        )

    # Declined by whoever had it, accepted and closed by the other.
    handled = arrive(1, "Ольга", 30)
    first = handled.operator_id
    handled = offers.decline(
        contact_id=handled.pk, operator_id=first, now=now - timedelta(minutes=29, seconds=40), rng=rng
    )
    second = handled.operator_id
    offers.accept(contact_id=handled.pk, operator_id=second, now=now - timedelta(minutes=29, seconds=20))
    offers.close(
        contact_id=handled.pk, operator_id=second, outcome="Договорились", now=now - timedelta(minutes=20)
    )
    expired = arrive(2, "Пётр", 15)
    offers.expire_due(now=now - timedelta(minutes=13), rng=rng)
    withdrawn = arrive(3, "Семён", 10)
    offers.withdraw(contact_id=withdrawn.pk, by="api:Телефония", now=now - timedelta(minutes=9), rng=rng)
    given = arrive(4, "Нина", 5)
    given = assign_manually(
        contact=Contact.objects.get(pk=given.pk),
        operator=anna,
        by="api:Телефония",
        override=True,
        now=now - timedelta(minutes=4),
        rng=rng,
    )
    pending = arrive(5, "Зоя", 0)
    if pending.operator_id != anna.pk:  # the round robin's turn: make it Anna's, as a supervisor would
        pending = offers.withdraw(contact_id=pending.pk, by="sam", now=now, rng=rng)
    # Boris away for lunch; Anna's week, her changed hours today, and a company holiday next week.
    capacity.update_operator(
        operator=Operator.objects.get(pk=boris.pk),
        presence=Presence.AWAY,
        presence_reason=AwayReason.LUNCH,
        presence_until=now + timedelta(hours=1),
    )
    today = now.astimezone(ZoneInfo("Europe/Moscow")).date()
    schedules.set_schedule(
        operator=Operator.objects.get(pk=anna.pk),
        intervals=[schedules.Interval(day, time(9), time(18)) for day in range(6)]
        + [schedules.Interval(6, time(22), time(6))],
        exceptions=[
            schedules.DateRange(today, today, ScheduleExceptionKind.HOURS, time(0), time(23, 59)),
            schedules.DateRange(today + timedelta(days=30), today + timedelta(days=31)),
        ],
        now=now,
    )
    schedules.add_holiday(holiday=schedules.DateRange(today + timedelta(days=7), today + timedelta(days=7)))
    return {
        **data,
        "calls": calls,
        "handled": handled,
        "expired": expired,
        "withdrawn": withdrawn,
        "given": given,
        "pending": Contact.objects.get(pk=pending.pk),
    }


def newer_pages(newer: dict) -> dict[str, str]:
    day = timezone.localdate()
    return {
        "reports": reverse("reports"),
        "reports of a period": reverse("reports")
        + f"?from={day - timedelta(days=1):%d.%m.%Y}&to={day:%d.%m.%Y}",
        "reports with a wrong period": reverse("reports") + "?from=02.01.2026&to=01.01.2026",
        "dashboard with offers": reverse("dashboard"),
        "lead declined, accepted and closed": reverse("lead_detail", args=[newer["handled"].lead_id]),
        "lead whose offer expired": reverse("lead_detail", args=[newer["expired"].lead_id]),
        "lead whose offer was withdrawn": reverse("lead_detail", args=[newer["withdrawn"].lead_id]),
        "lead given over an offer": reverse("lead_detail", args=[newer["given"].lead_id]),
        "lead with a pending offer": reverse("lead_detail", args=[newer["pending"].lead_id]),
        "offered contacts": reverse("contact_list") + "?state=offered",
        "changes of presence": reverse("change_list") + f"?operator={newer['boris'].pk}",
        "admin operator with presence and a schedule": reverse(
            "admin:crm_operator_change", args=[newer["anna"].pk]
        ),
        "admin operator away": reverse("admin:crm_operator_change", args=[newer["boris"].pk]),
        "admin operator history of presence": reverse("admin:crm_operator_history", args=[newer["boris"].pk]),
        "admin source that makes offers": reverse("admin:crm_source_change", args=[newer["calls"].pk]),
        "admin contact with offers": reverse("admin:crm_contact_change", args=[newer["handled"].pk]),
        "admin company holidays": reverse("admin:crm_holiday_changelist"),
    }


@pytest.mark.parametrize(
    "page",
    [
        "reports",
        "reports of a period",
        "reports with a wrong period",
        "dashboard with offers",
        "lead declined, accepted and closed",
        "lead whose offer expired",
        "lead whose offer was withdrawn",
        "lead given over an offer",
        "lead with a pending offer",
        "offered contacts",
        "changes of presence",
        "admin operator with presence and a schedule",
        "admin operator away",
        "admin operator history of presence",
        "admin source that makes offers",
        "admin contact with offers",
        "admin company holidays",
    ],
)
def test_newer_pages_are_russian(russian_admin, newer, page):
    assert_russian(russian_admin.get(newer_pages(newer)[page]), page)


@pytest.fixture
def russian_operator(client, newer):
    """Anna, signed in with her own account (not staff), in Russian."""
    client.force_login(Operator.objects.get(pk=newer["anna"].pk).user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    return client


def test_my_work_is_russian(russian_operator, newer):
    page = russian_operator.get(reverse("my_work"))
    assert_russian(page, "my work")
    text = visible(page)
    for said in ("Моя работа", "Присутствие", "Смена сегодня", "Изменённые часы:", "Принять", "Отклонить"):
        assert said in text, said


def test_my_work_after_going_away_is_russian(russian_operator, newer):
    away = russian_operator.post(
        reverse("my_presence"), {"presence": "away", "reason": AwayReason.BREAK, "back_in": "15"}, follow=True
    )
    assert_russian(away, "my work, away")
    assert "Вы отошли (перерыв) до" in visible(away)
    # The poll's rows and announcement, which the page's script puts in (JSON, not a page).
    polled = russian_operator.get(reverse("my_work_poll"), {"after": 0}).json()
    assert english_left(polled["html"]) == [] and "Принять" in visible_text(polled["html"])
    assert english_left(polled["announce"]) == [] and "новых обращений" in polled["announce"]


def test_a_lead_search_counted_up_to_the_cap_is_russian_in_the_admin(russian_admin, data, monkeypatch):
    from crm import selectors

    monkeypatch.setattr(selectors.CappedPaginator, "COUNT_CAP", 0)
    response = russian_admin.get(admin_pages(data)["lead search"])
    assert_russian(response, "lead search")
    assert "более чем 0 результатов" in response.text and "более чем 0 лидов" in response.text


def test_a_new_sources_token_page_is_russian(russian_admin, db):
    response = russian_admin.post(
        reverse("admin:crm_source_add"),
        {
            "name": "Телефон",
            "missed_offers_before_away": "3",
            "strategy": "weighted",
            "weights-TOTAL_FORMS": "0",
            "weights-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    assert Source.objects.filter(name="Телефон").exists()
    assert_russian(response, "token page")
    assert_russian(russian_admin.get(response.redirect_chain[-1][0]), "token page, reloaded", status=410)


def test_the_assign_action_page_and_its_messages_are_russian(russian_admin, data):
    changelist = reverse("admin:crm_contact_changelist")
    picked = {"action": "assign_to_operator", "_selected_action": [data["waiting"].pk]}
    assert_russian(russian_admin.post(changelist, picked), "assign action")
    done = russian_admin.post(changelist, {**picked, "operator": data["anna"].pk}, follow=True)
    assert "1 обращение назначено оператору Анна." in done.content.decode()
    assert_russian(done, "contacts after the action")
    assert Contact.objects.get(pk=data["waiting"].pk).operator == data["anna"]


def test_an_operator_switched_off_in_bulk_is_reported_in_russian(russian_admin, data):
    response = russian_admin.post(
        reverse("admin:crm_operator_changelist"),
        {"action": "deactivate", "_selected_action": [data["anna"].pk, data["boris"].pk]},
        follow=True,
    )
    assert not Operator.objects.filter(pk=data["anna"].pk, is_active=True).exists()
    assert_russian(response, "operators after the action")


def test_error_pages_and_api_messages_follow_the_language(client, db):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    missing = client.get("/no-such-page/")
    assert_russian(missing, "404", status=404)
    assert "Страница не найдена" in missing.content.decode()
    # The webhook keeps its field names and codes; the message follows Accept-Language.
    english = client.post(
        reverse("contacts_webhook"), "{}", content_type="application/json", HTTP_ACCEPT_LANGUAGE="en"
    )
    russian = client.post(
        reverse("contacts_webhook"), "{}", content_type="application/json", HTTP_ACCEPT_LANGUAGE="ru"
    )
    assert english.status_code == russian.status_code == 401
    assert list(english.json()["errors"]) == list(russian.json()["errors"]) == ["authorization"]
    assert russian.json()["errors"]["authorization"] == [
        "Передайте токен источника в заголовке 'Authorization: Bearer <token>'."
    ]


def test_confirming_an_override_is_russian(russian_admin, data):
    """Giving a contact to a switched-off operator asks first (409, the confirmation page)."""
    response = russian_admin.post(
        reverse("contact_assign", args=[data["waiting"].pk]), {"operator": data["off"].pk}
    )
    assert_russian(response, "assign confirmation", status=409)


# --- The switcher ----------------------------------------------------------------------------------


def test_the_switcher_changes_the_language_and_remembers_it(admin_client, data):
    first = admin_client.get(reverse("dashboard")).content.decode()
    assert '<html lang="en"' in first
    assert f'action="{reverse("set_language")}"' in first  # the switcher is in the header

    switched = admin_client.post(reverse("set_language"), {"language": "ru", "next": reverse("lead_list")})
    assert switched.status_code == 302 and switched["Location"] == reverse("lead_list")
    assert admin_client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"

    # Remembered: every later page, with no Accept-Language, is Russian.
    for url in (reverse("lead_list"), reverse("dashboard"), reverse("admin:index")):
        assert_russian(admin_client.get(url), url)

    admin_client.post(reverse("set_language"), {"language": "en", "next": reverse("dashboard")})
    assert '<html lang="en"' in admin_client.get(reverse("dashboard")).content.decode()


def test_the_login_page_has_the_switcher_and_speaks_russian(client, db):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    assert_russian(client.get(reverse("login")), "login")


def test_commands_speak_the_active_language(db):
    out = StringIO()
    with translation.override("ru"):
        call_command("seed_demo", admin_password="x-12345678", stdout=out)
    said = out.getvalue()
    assert "Демо-данные готовы: 4 оператора, 2 источника." in said
    assert "Вход в администрирование: admin / x-12345678" in said and "Первый вызов вебхука:" in said
    # The example request's sample values are Russian too, the body still JSON (distribution.webhook).
    assert '"name": "Иван", "message": "Перезвоните мне, пожалуйста"' in said


def test_the_lockout_and_403_pages_are_russian(client, django_user_model, settings):
    """The pages a refused person reads: django-axes' lockout and the 403 of a signed-in non-staff user."""
    django_user_model.objects.create_user("clerk", password="right-password-1")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "clerk", "password": "wrong"})
    locked = client.post(reverse("login"), {"username": "clerk", "password": "right-password-1"})
    assert_russian(locked, "lockout", status=429)
    assert f"было {settings.AXES_FAILURE_LIMIT} неудачных попыток входа" in locked.content.decode()

    other = django_user_model.objects.create_user("viewer", password="x")
    client.force_login(other)
    assert_russian(client.get(reverse("dashboard")), "403", status=403)


def test_language_code_sets_the_default_for_everyone(client, admin_user, settings):
    """LANGUAGE_CODE=ru: Russian without a cookie or Accept-Language; a browser asking for English still
    gets English."""
    settings.LANGUAGE_CODE = "ru"
    client.force_login(admin_user)
    assert_russian(client.get(reverse("dashboard")), "dashboard by default")
    english = client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="en"' in english.content.decode()


# --- Issue 23, item 19: what Django, django-axes, pydantic and nginx would have said in English or wrongly


def visible(response) -> str:
    return visible_text(response.content.decode())


@pytest.mark.parametrize(
    "n, expected", [(1, "1 оператор"), (3, "3 оператора"), (8, "8 операторов"), (21, "21 оператор")]
)
def test_an_admin_list_counts_its_rows_in_the_right_plural_form(russian_admin, db, n, expected):
    """Django writes "<count> <verbose_name_plural>": "8 операторы". Each model admin counts in its words."""
    OperatorFactory.create_batch(n)
    text = visible(russian_admin.get(reverse("admin:crm_operator_changelist")))
    assert re.search(rf"(?<!\d){expected}(?!\w)", text), text[-300:]


def test_other_admin_lists_count_in_the_right_plural_form(russian_admin, data):
    create_api_key(name="BI", scope=Scope.READ)
    create_api_key(name="Сайт", scope=Scope.READ)
    counted = {
        "admin:integrations_apikey_changelist": "3 API-ключа",
        "admin:crm_source_changelist": "2 источника",
        "admin:crm_lead_changelist": "2 лида",
        "admin:crm_contact_changelist": "3 обращения",
    }
    for name, expected in counted.items():
        assert expected in visible(russian_admin.get(reverse(name))), name


def test_admin_titles_name_the_model_as_each_russian_sentence_needs(russian_admin, data):
    """Django puts the verbose name into "Select %s to change", "Add %s", "Change %s" in the nominative:
    "Выберите оператор для изменения". Each model admin has its own sentences."""
    said = {
        reverse("admin:crm_operator_changelist"): ["Выберите оператора для изменения", "Добавить оператора"],
        reverse("admin:crm_operator_add"): ["Добавить оператора"],
        reverse("admin:crm_operator_change", args=[data["anna"].pk]): ["Изменить оператора"],
        reverse("admin:crm_source_changelist"): ["Выберите источник для изменения", "Добавить источник"],
        reverse("admin:crm_lead_changelist"): ["Выберите лид для изменения"],
        reverse("admin:crm_contact_changelist"): ["Выберите обращение для просмотра"],
        reverse("admin:crm_contact_change", args=[data["chosen"].pk]): ["Просмотреть обращение"],
        reverse("admin:integrations_apikey_changelist"): [
            "Выберите API-ключ для изменения",
            "Добавить API-ключ",
        ],
        reverse("admin:axes_accessattempt_changelist"): ["Выберите попытку входа для изменения"],
    }
    for url, sentences in said.items():
        text = visible(russian_admin.get(url))
        for sentence in sentences:
            assert sentence in text, (url, sentence)
        assert not re.search(r"(Выберите|Добавить|Изменить) (оператор|попытка) ", text), url


def test_the_weights_inline_adds_another_operator_in_lowercase_russian(russian_admin, data):
    """Django's "Add another %(verbose_name)s" capitalises the name: "Добавить еще один Вес оператора"."""
    page = russian_admin.get(reverse("admin:crm_source_change", args=[data["bot"].pk])).text
    found = re.search(
        r'id="weights-group"\s+data-inline-type="tabular"\s+data-inline-formset="([^"]+)"', page
    )
    assert json.loads(html.unescape(found[1]))["options"]["addText"] == "Добавить ещё оператора"


def test_deleting_operators_is_asked_and_reported_in_russian(russian_admin, db):
    gleb, dina = OperatorFactory(name="Глеб"), OperatorFactory(name="Дина")
    one = visible(russian_admin.get(reverse("admin:crm_operator_delete", args=[gleb.pk])))
    assert "удалить оператора" in one and "удалить оператор " not in one
    changelist = reverse("admin:crm_operator_changelist")
    assert "Удалить выбранных операторов" in russian_admin.get(changelist).text
    picked = {"action": "delete_selected", "_selected_action": [gleb.pk, dina.pk]}
    asked = russian_admin.post(changelist, picked)
    assert_russian(asked, "bulk deletion")
    assert "удалить операторов" in visible(asked)
    done = russian_admin.post(changelist, {**picked, "post": "yes"}, follow=True)
    assert "Удалено (операторы: 2)." in visible(done)
    assert not Operator.objects.filter(pk__in=[gleb.pk, dina.pk]).exists()


def test_djangos_count_before_a_noun_reads_right_in_russian():
    """Django's list-edit message puts "операторы" after any count ("2 операторы были успешно изменены"):
    our catalogue words it so that the noun's form does not depend on the count."""
    with translation.override("ru"):
        changed = ngettext(
            "%(count)s %(name)s was changed successfully.", "%(count)s %(name)s were changed successfully.", 2
        )
    assert changed % {"count": 2, "name": "операторы"} == "Изменения сохранены (операторы: 2)."


@pytest.mark.parametrize(
    "state, why",
    [
        ({"limit": 2, "load": 2}, "достиг лимита нагрузки"),
        ({"active": False, "limit": 2, "load": 0}, "отключён"),
    ],
)
def test_an_override_says_why_in_a_russian_sentence(state, why):
    """Not "хотя оператор был достиг лимита нагрузки"."""
    from crm.templatetags.leadflow import explanation_sentences

    anna = {"operator_id": 1, "name": "Анна", "weight": 1, "active": True, **state}
    explanation = {"candidates": [anna], "chosen": 1, "draws": [], "path": AssignmentPath.MANUAL_OVERRIDE}
    with translation.override("ru"):
        sentences = explanation_sentences(explanation)
    assert sentences[-1] == f"Супервизор подтвердил назначение, хотя оператор {why}."


@pytest.mark.parametrize("kind", ["webhook token", "API key"])
def test_a_rotated_secret_is_asked_shown_once_and_refused_again_in_russian(russian_admin, data, kind):
    """Whole sentences per kind of secret (crm.secret_pages.SecretWords), not one with the kind put in."""
    if kind == "webhook token":
        url = reverse("admin:crm_source_rotate", args=[data["bot"].pk])
        yes, copy, gone = (
            "Да, создать новый токен вебхука",
            "Скопируйте токен вебхука сейчас",
            "Этот токен вебхука",
        )
    else:
        url = reverse("admin:integrations_apikey_rotate", args=[data["key"].pk])
        yes, copy, gone = "Да, создать новый API-ключ", "Скопируйте API-ключ сейчас", "Этот API-ключ"
    asked = russian_admin.get(url)
    assert_russian(asked, "rotation")
    assert f'value="{yes}"' in asked.text
    shown = russian_admin.post(url, {"grace": "1"}, follow=True)
    assert_russian(shown, "shown once")
    assert copy in visible(shown) and "работает до" in visible(shown)
    again = russian_admin.get(shown.redirect_chain[-1][0])
    assert_russian(again, "shown already", status=410)
    assert gone in visible(again)


def test_the_sign_in_lockout_admin_speaks_russian(client, russian_admin, django_user_model, settings):
    """django-axes names its app "Axes", its list column "Status" with "3 Attempt Remaining", its entries
    "Attempted Access: <time>", and capitalises its model names mid-sentence."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    for _ in range(2):
        client.post(reverse("login"), {"username": "clerk", "password": "wrong"})
    index = visible(russian_admin.get(reverse("admin:index")))
    assert "Блокировка входа" in index and "Axes" not in index
    changelist = reverse("admin:axes_accessattempt_changelist")
    attempts = russian_admin.get(changelist)
    assert_russian(attempts, "access attempts")
    text = visible(attempts)
    assert "Состояние" in text and "осталось 3 попытки" in text and "1 попытка входа" in text
    attempt = AccessAttempt.objects.get(username="clerk")
    entry = russian_admin.get(reverse("admin:axes_accessattempt_change", args=[attempt.pk]))
    assert_russian(entry, "access attempt")
    assert f"clerk с адреса {attempt.ip_address}" in visible(entry)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "clerk", "password": "wrong"})
    assert "заблокирован" in visible(russian_admin.get(changelist))
    cleaned = russian_admin.post(
        changelist, {"action": "cleanup_expired_attempts", "_selected_action": [attempt.pk]}, follow=True
    )
    assert "Удалено 0 истёкших попыток входа." in visible(cleaned)


def test_a_version_in_the_admin_history_has_the_admins_breadcrumbs(russian_admin, data):
    """django-simple-history's page writes the app's code and the history table's name: "Crm › Historical
    операторы › … › Восстановить оператор"."""
    version = data["boris"].history.first()
    page = russian_admin.get(
        reverse("admin:crm_operator_simple_history", args=[data["boris"].pk, version.pk])
    )
    assert_russian(page, "operator version")
    crumbs = visible_text(re.search(r'<div class="breadcrumbs">.*?</div>', page.text, re.S)[0]).strip()
    assert crumbs == "Начало › Распределение лидов › Операторы › Борис › История › Восстановление версии"


def test_the_dashboard_pages_its_operators_in_russian(russian_admin, db):
    OperatorFactory.create_batch(51, name=factory.Sequence(lambda n: f"Оператор {n}"))
    first = russian_admin.get(reverse("dashboard"))
    assert_russian(first, "dashboard, page 1")
    assert "1–50 из 51 оператора" in visible(first) and "Страница 1 из 2" in visible(first)
    second = russian_admin.get(reverse("dashboard") + "?op_page=2")
    assert_russian(second, "dashboard, page 2")
    assert "51–51 из 51 оператора" in visible(second)


# --- The API, the webhook and nginx: messages in the request's language, JSON in UTF-8


@pytest.fixture
def russian_api(db) -> Client:
    _key, secret = create_api_key(name="скрипт", scope=Scope.WRITE)
    return Client(headers={"Authorization": f"Bearer {secret}", "Accept-Language": "ru"})


def post_json(client: Client, url: str, body) -> object:
    return client.post(
        url, body if isinstance(body, str) else json.dumps(body), content_type="application/json"
    )


def test_api_validation_messages_are_russian(russian_api):
    """pydantic words them in English only ("Input should be a valid integer"): said again by type."""
    wrong = post_json(russian_api, "/api/v1/operators", {"name": "", "load_limit": "x", "color": "red"})
    assert wrong.status_code == 400 and wrong.json() == {
        "errors": {
            "name": ["Должно быть не короче 1 символа."],
            "load_limit": ["Должно быть целым числом."],
            "color": ["У этой операции нет такого поля; уберите его."],
        }
    }
    assert post_json(russian_api, "/api/v1/operators", {}).json() == {
        "errors": {"name": ["Это поле не передано."]}
    }
    listed = russian_api.get("/api/v1/contacts?from=31.12.2026&unassigned=maybe&limit=0").json()
    assert listed == {
        "errors": {
            "from": ["Должно быть датой в виде YYYY-MM-DD."],
            "unassigned": ["Должно быть true или false."],
            "limit": ["Должно быть не меньше 1."],
        }
    }
    broken = post_json(russian_api, "/api/v1/operators", '{"name": ')
    assert broken.json() == {"errors": {"body": ["Некорректный JSON: строка 1, столбец 10."]}}


def test_api_validation_messages_stay_english_for_english(db):
    _key, secret = create_api_key(name="script", scope=Scope.WRITE)
    english = Client(headers={"Authorization": f"Bearer {secret}", "Accept-Language": "en"})
    wrong = post_json(english, "/api/v1/operators", {"name": "", "load_limit": "x"})
    assert wrong.json() == {
        "errors": {"name": ["Must be at least 1 character long."], "load_limit": ["Must be a whole number."]}
    }


# A context for each pydantic error type that needs one, as pydantic gives it.
ERROR_CONTEXT = {
    "string_too_short": {"min_length": 2},
    "string_too_long": {"max_length": 5},
    "string_pattern_mismatch": {"pattern": "^[a-z]+$"},
    "greater_than": {"gt": 0},
    "greater_than_equal": {"ge": 1},
    "less_than": {"lt": 10},
    "less_than_equal": {"le": 500},
    "multiple_of": {"multiple_of": 5},
    "too_short": {"field_type": "List", "min_length": 1, "actual_length": 0},
    "too_long": {"field_type": "List", "max_length": 3, "actual_length": 4},
    "enum": {"expected": "'read' or 'write'"},
    "literal_error": {"expected": "'read' or 'write'"},
    "json_invalid": {"error": "EOF while parsing a value at line 1 column 0"},
    "date_parsing": {"error": "input is too short"},
    "date_from_datetime_parsing": {"error": "input is too short"},
    "datetime_parsing": {"error": "input is too short"},
    "datetime_from_date_parsing": {"error": "input is too short"},
}


@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_every_mapped_pydantic_error_is_said_in_russian(kind):
    with translation.override("ru"):
        said = validation_message({"type": kind, "msg": "pydantic's English", "ctx": ERROR_CONTEXT.get(kind)})
    assert said != "pydantic's English" and "%(" not in said and re.search("[а-яё]", said), said
    assert " or " not in said


def test_a_pydantic_error_not_mapped_keeps_pydantics_text():
    with translation.override("ru"):
        assert validation_message({"type": "uuid_type", "msg": "UUID input should be a string"}) == (
            "UUID input should be a string"
        )


def test_json_answers_are_utf8_not_escaped(client, russian_api):
    """A Russian message as its letters (the bytes of UTF-8), not "\\u0414…"."""
    webhook = client.post(
        reverse("contacts_webhook"), "{}", content_type="application/json", HTTP_ACCEPT_LANGUAGE="ru"
    )
    api = post_json(russian_api, "/api/v1/operators", {"name": 5})
    for answer in (webhook, api):
        assert answer["Content-Type"].startswith("application/json")
        assert "Передайте".encode() in answer.content or "Должно".encode() in answer.content
        assert b"\\u04" not in answer.content


def test_a_lone_surrogate_stays_escaped_in_utf8_json():
    """It has no UTF-8 form (a JSON body may carry one as "\\ud800"): escaped, the answer stays JSON."""
    answer = json_response({"errors": {"\ud800": ["Должно быть строкой."]}})
    assert b"\\ud800" in answer.content and "Должно".encode() in answer.content
    assert json.loads(answer.content) == {"errors": {"\ud800": ["Должно быть строкой."]}}


def test_nginx_answers_what_the_app_and_the_catalogue_say_in_every_language():
    """deploy/nginx-leadflow-common.conf's own answers under /api/ are written from config/nginx.py and the
    catalogue (`manage.py nginx_error_answers`); they follow Accept-Language."""
    text = nginx.CONF.read_text()
    assert nginx.written(text) == text, "run `manage.py nginx_error_answers` and commit the file"
    for answer in nginx.ANSWERS:
        for language in ("en", "ru"):
            assert json.dumps(json.loads(nginx.body(answer, language)), ensure_ascii=False) in text
    assert '"Тело запроса — не больше 65536 байт."' in text
    assert '"Слишком много запросов с этого адреса; повторите через секунду."' in text
    assert 'if ($http_accept_language ~* "^\\s*ru\\b")' in text


def test_the_example_request_speaks_russian_and_stays_valid_json(russian_admin, data):
    page = russian_admin.get(reverse("admin:crm_source_change", args=[data["bot"].pk])).text
    curl = html.unescape(re.search(r'<pre class="curl">(.*?)</pre>', page, re.S)[1])
    words = shlex.split(curl.replace("\\\n", " "))
    body = json.loads(words[words.index("-d") + 1])
    assert body == {"external_id": "user123", "name": "Иван", "message": "Перезвоните мне, пожалуйста"}


def test_the_api_docs_say_our_texts_in_the_readers_language(client, db):
    """Swagger UI's own labels stay English; every description and summary of ours follows the language."""
    english = client.get("/api/v1/openapi.json", HTTP_ACCEPT_LANGUAGE="en").json()
    russian = client.get("/api/v1/openapi.json", HTTP_ACCEPT_LANGUAGE="ru").json()

    def texts(schema) -> list[str]:
        if isinstance(schema, dict):
            return [
                text
                for key, value in schema.items()
                for text in (
                    [value] if key in ("description", "summary") and isinstance(value, str) else texts(value)
                )
            ]
        return [text for item in schema for text in texts(item)] if isinstance(schema, list) else []

    # ninja's answers' descriptions ("OK", "Not Found"), and the webhook's header values (WWW-Authenticate,
    # Allow), which are not prose.
    phrases = {status.phrase for status in HTTPStatus} | {"Bearer realm", "POST"}
    pairs = [
        (en, ru) for en, ru in zip(texts(english), texts(russian), strict=True) if en and en not in phrases
    ]
    assert len(pairs) > 80 and [en for en, ru in pairs if en == ru] == []
    assert russian["info"]["title"] == "API интеграций Leadflow"
    assert english["info"]["title"] == "Leadflow integration API"
    webhook = russian["paths"]["/api/contacts/"]["post"]
    assert webhook["responses"]["413"]["description"] == "Тело больше 64 КиБ."
