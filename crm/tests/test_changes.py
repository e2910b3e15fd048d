"""The Changes page: who changed operators, sources and weights, when, and from what to what."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm import services
from crm.history import author, field_changes
from crm.models import Operator, Skill
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory, operator_admin_form
from distribution import capacity

pytestmark = pytest.mark.django_db

# Session and user, the menu's queue count, the user's operator (the menu's My work), sources and operators
# for the filters, who made changes (users and API keys), a count and a page over the three history tables,
# and per kind on the page its records (with users), their predecessors and their skill lists (one query
# per list: the operators' skills, the sources' required and preferred ones).
CHANGES_QUERIES = 17


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("staff", password="x", is_staff=True))
    return client


def test_an_admin_edit_shows_old_and_new_value_with_who_and_when(admin_client, staff_client):
    anna = OperatorFactory(name="Anna", load_limit=37)
    response = admin_client.post(
        reverse("admin:crm_operator_change", args=[anna.pk]),
        operator_admin_form(anna, load_limit=91),
    )
    assert response.status_code == 302
    page = staff_client.get(reverse("change_list")).text
    first = page.split('<li class="change card">')[1]
    assert "load limit</span> 37 → 91" in first
    assert "admin" in first.split("</p>")[0]  # the user who saved it
    assert "UTC" in first.split("</p>")[0]


def test_list_actions_and_services_are_recorded_too(staff_client):
    anna = OperatorFactory(name="Anna")
    capacity.set_operators_active(operators=Operator.objects.filter(pk=anna.pk), is_active=False)
    page = staff_client.get(reverse("change_list")).text
    assert "active</span> yes → no" in page
    assert "no signed-in user" in page


def test_a_token_regeneration_shows_the_new_prefix_and_the_grace_period(staff_client):
    source = SourceFactory(name="Bot")
    old_prefix = source.token_prefix
    services.regenerate_token(source=source, grace=timedelta(hours=1))
    source.refresh_from_db()
    page = staff_client.get(reverse("change_list")).text
    assert f"token prefix</span> {old_prefix} → {source.token_prefix}" in page


def test_weights_read_as_the_operator_for_the_source(staff_client):
    weight = WeightFactory(source=SourceFactory(name="Bot"), operator=OperatorFactory(name="Anna"), weight=1)
    weight.weight = 3
    weight.save()
    page = staff_client.get(reverse("change_list")).text
    assert "Weight of" in page and "Anna</a> for" in page and "Bot</a>" in page
    assert "weight</span> 1 → 3" in page


def test_changes_filter_by_operator_and_by_source(staff_client):
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    bot, form = SourceFactory(name="Bot"), SourceFactory(name="Form")
    WeightFactory(source=bot, operator=anna)
    WeightFactory(source=form, operator=boris)

    def subjects(**params) -> list[tuple[str, int | None, int | None]]:
        page = staff_client.get(reverse("change_list"), params).context["page_obj"]
        return sorted((c.kind, c.operator_id, c.source_id) for c in page)

    assert subjects(operator=anna.pk) == [("operator", anna.pk, None), ("weight", anna.pk, bot.pk)]
    assert subjects(source=form.pk) == [("source", None, form.pk), ("weight", boris.pk, form.pk)]
    assert subjects(operator=anna.pk, source=bot.pk) == [("weight", anna.pk, bot.pk)]
    assert subjects(operator=anna.pk, source=form.pk) == []
    assert len(subjects()) == 6


@pytest.mark.parametrize("rows", [3, 30])
def test_the_changes_page_runs_a_fixed_number_of_queries(staff_client, django_assert_max_num_queries, rows):
    for i in range(rows):
        op = OperatorFactory(load_limit=i + 1)
        op.load_limit += 1
        op.save()
        WeightFactory(operator=op)
    with django_assert_max_num_queries(CHANGES_QUERIES):
        response = staff_client.get(reverse("change_list"))
    assert response.status_code == 200 and len(response.context["page_obj"].object_list) == min(50, rows * 4)


def test_the_admin_history_of_an_operator_lists_its_changes(admin_client):
    anna = OperatorFactory(name="Anna", load_limit=37)
    anna.load_limit = 91
    anna.save()
    page = admin_client.get(reverse("admin:crm_operator_history", args=[anna.pk])).text
    assert "Load limit" in page or "load limit" in page


def test_a_save_that_changes_nothing_records_nothing(admin_client):
    source = SourceFactory(name="Bot")
    anna = OperatorFactory(name="Anna", load_limit=5)
    before = (source.history.count(), anna.history.count())
    form = {
        "name": "Bot",
        "missed_offers_before_away": "3",
        "strategy": "weighted",
        "weights-TOTAL_FORMS": "0",
        "weights-INITIAL_FORMS": "0",
    }
    assert admin_client.post(reverse("admin:crm_source_change", args=[source.pk]), form).status_code == 302
    operator_form = operator_admin_form(anna)
    assert (
        admin_client.post(reverse("admin:crm_operator_change", args=[anna.pk]), operator_form).status_code
        == 302
    )
    assert (source.history.count(), anna.history.count()) == before
    # The admin's History of each lists only entries that say what changed.
    services.regenerate_token(source=source)
    history = admin_client.get(reverse("admin:crm_source_history", args=[source.pk])).text
    entries = history.count(f'<td data-label="Object"><a href="/admin/crm/source/{source.pk}/history/')
    assert entries == 2 and history.count('<ul class="history-changes">') == entries  # created, rotated
    assert "token prefix:</strong>" in history and "None" not in history
    assert "no signed-in user (a command)" in history


def test_changes_filter_by_who_made_them_and_by_day(staff_client, admin_user, monkeypatch):
    from django.utils import timezone

    from integrations.services import create_api_key
    from integrations.tests.conftest import client_with

    anna = OperatorFactory(name="Anna")
    capacity.update_operator(operator=anna, load_limit=7)  # by a command: nobody signed in
    writer = client_with(create_api_key(name="telephony", scope="write")[1])
    assert writer.patch(f"/api/v1/operators/{anna.pk}", {"load_limit": 8}).status_code == 200
    page = staff_client.get(reverse("change_list"), {"who": "api:telephony"}).text
    assert "8" in page and page.count('<li class="change card">') == 1
    # The key by its name in words, never the stored code: in the entry and in the filter's menu.
    assert "· API key “telephony”</p>" in page
    assert (
        '<option value="api:telephony">API key “telephony”</option>'
        in staff_client.get(reverse("change_list")).text
    )
    today = timezone.localdate()
    assert (
        staff_client.get(reverse("change_list"), {"from": f"{today}"}).text.count('class="change card"') >= 3
    )
    tomorrow = today + timedelta(days=1)
    assert (
        staff_client.get(reverse("change_list"), {"from": f"{tomorrow}"}).text.count('class="change card"')
        == 0
    )
    refused = staff_client.get(reverse("change_list"), {"who": "nobody-like-this"})
    assert refused.status_code == 200 and "errorlist" in refused.text or "not one of" in refused.text


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        ({"strategy": "round_robin"}, "routing strategy</span> weighted draw → round robin"),
        ({"relax_preferred_after_seconds": 120}, "relax preferred skills after (seconds)</span> — → 120"),
    ],
)
def test_a_change_of_the_routing_strategy_or_the_relax_time_alone_is_recorded(staff_client, changes, shown):
    source = SourceFactory(name="Bot")
    before = source.history.count()
    services.update_source(source=source, **changes)
    assert source.history.count() == before + 1
    assert shown in staff_client.get(reverse("change_list")).text


def skills(*names):
    return [Skill.objects.get_or_create(name=name)[0] for name in names]


def test_a_change_of_an_operators_skills_is_one_entry_naming_them(admin_client, staff_client):
    skills("en", "ru", "vip")
    anna = OperatorFactory(name="Anna")
    capacity.set_operator_skills(operator=anna, names=["en"])
    before = anna.history.count()
    capacity.set_operator_skills(operator=anna, names=["ru", "en", "vip"])
    assert anna.history.count() == before + 1  # one entry, not a removal and an addition
    capacity.set_operator_skills(operator=anna, names=["vip", "en", "ru"])  # the same set: nothing
    assert anna.history.count() == before + 1
    first = staff_client.get(reverse("change_list")).text.split('<li class="change card">')[1]
    assert "skills</span> en → en, ru, vip" in first
    # The admin's History of the operator says the same; the skills page's save records it as the user's.
    url = reverse("admin:crm_operator_change", args=[anna.pk])
    assert (
        admin_client.post(url, operator_admin_form(anna, skills=[s.pk for s in skills("ru")])).status_code
        == 302
    )
    history = admin_client.get(reverse("admin:crm_operator_history", args=[anna.pk])).text
    assert "en, ru, vip" in history and "<strong>skills:</strong>" in history
    latest = anna.history.first()
    assert latest.history_user.username == "admin" and latest.history_type == "~"
    assert [(c.field, c.old, c.new) for c in field_changes("operator", latest, latest.prev_record)] == [
        ("skills", "en, ru, vip", "ru")
    ]


def test_a_change_of_a_sources_skills_is_one_entry_naming_both_lists(staff_client):
    skills("en", "ru", "vip")
    source = SourceFactory(name="Bot")
    before = source.history.count()
    capacity.set_source_skills(source=source, required=["en"], preferred=["vip"])
    assert source.history.count() == before + 1
    capacity.set_source_skills(source=source, required=["en"], preferred=["vip"])  # unchanged: nothing
    capacity.set_source_skills(source=source, required=["en", "ru"])
    assert source.history.count() == before + 2
    latest, previous = source.history.all()[:2]
    assert [(c.field, c.old, c.new) for c in field_changes("source", latest, previous)] == [
        ("required skills", "en", "en, ru")
    ]
    assert [(c.field, c.old, c.new) for c in field_changes("source", previous, previous.prev_record)] == [
        ("required skills", None, "en"),
        ("preferred skills", None, "vip"),
    ]
    assert "required skills</span> en → en, ru" in staff_client.get(reverse("change_list")).text


def test_other_changes_carry_the_skills_along_and_show_no_skills_change(staff_client):
    anna = OperatorFactory(name="Anna", load_limit=5)
    capacity.set_operator_skills(operator=anna, names=[s.name for s in skills("en")])
    capacity.set_operators_active(operators=Operator.objects.filter(pk=anna.pk), is_active=False)
    latest = anna.history.first()
    assert [c.field for c in field_changes("operator", latest, latest.prev_record)] == ["active"]
    # A skill deleted since reads as gone from every entry alike: no change is made up.
    Skill.objects.filter(name="en").delete()
    assert [c.field for c in field_changes("operator", latest, latest.prev_record)] == ["active"]
    capacity.set_operator_skills(operator=anna, names=[s.name for s in skills("vip")])
    changed = anna.history.first()
    assert [(c.field, c.old, c.new) for c in field_changes("operator", changed, latest)] == [
        ("skills", None, "vip")
    ]


def test_entries_made_before_the_skills_were_recorded_get_the_lists_as_they_are():
    en, ru = skills("en", "ru")
    anna = OperatorFactory(name="Anna")
    anna.skills.set([en, ru])  # as before this version: no entry, no recorded lists
    entries = anna.history.model.skills.model.objects
    entries.filter(history__id=anna.pk).delete()
    migration = importlib.import_module("crm.migrations.0020_skills_in_history")
    migration.lists_as_they_are(django_apps, None)
    recorded = entries.filter(history__id=anna.pk).values_list("skill__name", flat=True)
    assert sorted(recorded) == ["en", "ru"]
    capacity.set_operators_active(operators=Operator.objects.filter(pk=anna.pk), is_active=False)
    latest = anna.history.first()
    assert [c.field for c in field_changes("operator", latest, latest.prev_record)] == ["active"]


@pytest.mark.parametrize("field", ["token_prefix", "uses_skills", "updated_at"])
def test_a_source_update_refuses_what_only_other_services_write(field):
    source = SourceFactory(name="Bot")
    with pytest.raises(ValidationError) as refused:
        services.update_source(source=source, **{field: "x"})
    assert list(refused.value.message_dict) == [field]


def test_linking_an_account_to_an_operator_is_recorded_by_user_name(
    admin_client, staff_client, django_user_model
):
    anna = OperatorFactory(name="Anna")
    account = django_user_model.objects.create_user("anna.p", password="x")
    before = anna.history.count()
    url = reverse("admin:crm_operator_change", args=[anna.pk])
    assert admin_client.post(url, operator_admin_form(anna, user=account.pk)).status_code == 302
    assert anna.history.count() == before + 1
    assert admin_client.post(url, operator_admin_form(anna, user=account.pk)).status_code == 302  # as it was
    assert anna.history.count() == before + 1
    first = staff_client.get(reverse("change_list")).text.split('<li class="change card">')[1]
    assert "user account</span> — → anna.p" in first
    # Deleting the account unlinks it: one entry more, by whoever deleted it; the account, gone, shows by
    # its number in both entries, not as an error.
    number = account.pk
    assert (
        admin_client.post(reverse("admin:auth_user_delete", args=[number]), {"post": "yes"}).status_code
        == 302
    )
    assert anna.history.count() == before + 2
    unlinked, linked = anna.history.filter(history_type="~")[:2]
    assert [(c.field, c.old, c.new) for c in field_changes("operator", unlinked, unlinked.prev_record)] == [
        ("user account", f"#{number}", None)
    ]
    assert author(unlinked) == "admin"
    assert [(c.field, c.old, c.new) for c in field_changes("operator", linked, linked.prev_record)] == [
        ("user account", None, f"#{number}")
    ]
