"""Russian end to end: the catalogue is complete and compiled, plural forms are right, every staff page and the
admin pages we customised render in Russian with no English phrase of ours left, and the switcher remembers.

"Of ours" is read from the catalogue itself (locale/ru/LC_MESSAGES/django.po): the literal parts of every
msgid, compared with the text a person sees on the page (code samples excepted). Django's own admin texts
are Django's business and are not checked here.
"""

import ast
import gettext
import html
import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import ngettext

from crm.choices import UnassignedReason
from crm.eligibility import Candidate
from crm.models import Contact, Operator, Source
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory
from distribution.selection import decide

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


def english_left(page: str) -> list[str]:
    text = visible_text(page)
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
    return {
        "anna": anna,
        "boris": boris,
        "off": off,
        "bot": bot,
        "form": form,
        "ivan": ivan,
        "chosen": chosen,
        "waiting": waiting,
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
    }


def assert_russian(response, name: str, status: int = 200) -> None:
    assert response.status_code == status, name
    page = response.content.decode()
    assert '<html lang="ru"' in page, name
    assert english_left(page) == [], f"{name}: English left on the page"


@pytest.mark.parametrize(
    "page", ["dashboard", "leads", "lead search", "lead", "contacts", "waiting contacts", "changes"]
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
    ],
)
def test_customised_admin_pages_are_russian(russian_admin, data, page):
    assert_russian(russian_admin.get(admin_pages(data)[page]), page)


def test_a_lead_search_counted_up_to_the_cap_is_russian_in_the_admin(russian_admin, data, monkeypatch):
    from crm import selectors

    monkeypatch.setattr(selectors.CappedPaginator, "COUNT_CAP", 0)
    response = russian_admin.get(admin_pages(data)["lead search"])
    assert_russian(response, "lead search")
    assert "более чем 0 результатов" in response.text and "более чем 0 лидов" in response.text


def test_a_new_sources_token_page_is_russian(russian_admin, db):
    response = russian_admin.post(
        reverse("admin:crm_source_add"),
        {"name": "Телефон", "weights-TOTAL_FORMS": "0", "weights-INITIAL_FORMS": "0"},
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
