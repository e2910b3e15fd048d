"""Skills and strategies in the admin: skills named on their own page, held by operators and required or
preferred by sources (saved through distribution.capacity, which routes the contacts they let through)."""

import random

import pytest
from django.urls import reverse

from crm.choices import Strategy, UnassignedReason
from crm.models import Contact, Operator, Skill, Source
from crm.tests.factories import (
    OperatorFactory,
    SourceFactory,
    WeightFactory,
    operator_admin_form,
    source_admin_form,
)
from distribution import capacity
from distribution.intake import store_contact

pytestmark = pytest.mark.django_db


def test_skills_given_on_the_operator_page_route_the_contacts_waiting_for_them(
    admin_client, django_capture_on_commit_callbacks
):
    ru = Skill.objects.create(name="ru")
    anna = OperatorFactory(name="Anna")
    source = SourceFactory()
    WeightFactory(source=source, operator=anna)
    waiting = store_contact(source=source, external_id="ivan", skills=["ru"], rng=random.Random(1))
    assert waiting.unassigned_reason == UnassignedReason.NOBODY_WITH_SKILLS
    url = reverse("admin:crm_operator_change", args=[anna.pk])
    with django_capture_on_commit_callbacks(execute=True):
        page = admin_client.post(url, operator_admin_form(anna, skills=[ru.pk]), follow=True)
    assert page.status_code == 200
    assert list(anna.skills.values_list("name", flat=True)) == ["ru"]
    assert Contact.objects.get(pk=waiting.pk).operator_id == anna.pk


def test_the_source_page_sets_the_strategy_and_skills_through_the_service(admin_client):
    vip, ru = Skill.objects.create(name="vip"), Skill.objects.create(name="ru")
    source = SourceFactory()
    url = reverse("admin:crm_source_change", args=[source.pk])
    form = source_admin_form(
        source,
        strategy=Strategy.ROUND_ROBIN,
        required_skills=[ru.pk],
        preferred_skills=[vip.pk],
        relax_preferred_after_seconds="120",
    )
    assert admin_client.post(url, form).status_code == 302
    source = Source.objects.get(pk=source.pk)
    assert source.strategy == Strategy.ROUND_ROBIN and source.relax_preferred_after_seconds == 120
    assert [s.name for s in source.required_skills.all()] == ["ru"]
    assert [s.name for s in source.preferred_skills.all()] == ["vip"]
    assert source.uses_skills  # kept by the service: the route reads operators' skills for it
    form = source_admin_form(
        source,
        strategy=Strategy.WEIGHTED,
        required_skills=[],
        preferred_skills=[],
        relax_preferred_after_seconds="",
    )
    assert admin_client.post(url, form).status_code == 302
    assert not Source.objects.get(pk=source.pk).uses_skills
    page = admin_client.get(reverse("admin:crm_source_changelist")).text
    assert 'field-strategy">weighted draw<' in page  # back to the weighted draw, in the list


def test_an_unknown_strategy_is_a_form_error(admin_client):
    source = SourceFactory()
    url = reverse("admin:crm_source_change", args=[source.pk])
    page = admin_client.post(url, source_admin_form(source, strategy="fastest"))
    assert page.status_code == 200 and "Select a valid choice" in page.text
    assert Source.objects.get(pk=source.pk).strategy == Strategy.WEIGHTED


def test_a_skill_is_named_once_and_not_renamed(admin_client):
    add = reverse("admin:crm_skill_add")
    assert admin_client.post(add, {"name": "ru"}).status_code == 302
    page = admin_client.post(add, {"name": "ru"})
    assert page.status_code == 200 and Skill.objects.count() == 1
    assert admin_client.post(add, {"name": "Has Space"}).status_code == 200
    skill = Skill.objects.get()
    change = reverse("admin:crm_skill_change", args=[skill.pk])
    admin_client.post(change, {"name": "en"})
    assert Skill.objects.get().name == "ru"  # contacts keep the names they asked for


# --- One save, one history entry ------------------------------------------------------------------------


def entries(obj) -> list[tuple[str, list[tuple[str, object, object]]]]:
    """The object's history, oldest first: each entry's type and what it changed (crm.history)."""
    from crm.history import field_changes

    kind = "operator" if obj._meta.model_name == "operator" else "source"
    records = list(obj.history.order_by("history_id"))
    return [
        (record.history_type, [(c.field, c.old, c.new) for c in field_changes(kind, record, previous)])
        for record, previous in zip(records, [None, *records[:-1]], strict=True)
    ]


def test_an_operator_added_with_skills_on_the_admin_page_is_one_entry_that_names_them(admin_client):
    ru, vip = Skill.objects.create(name="ru"), Skill.objects.create(name="vip")
    form = operator_admin_form(OperatorFactory.build(name="Anna"), skills=[ru.pk, vip.pk])
    assert admin_client.post(reverse("admin:crm_operator_add"), form).status_code == 302
    [(kind, changed)] = entries(Operator.objects.get(name="Anna"))
    assert kind == "+" and ("skills", None, "ru, vip") in changed


def test_a_name_and_skills_changed_in_one_save_are_one_entry(admin_client):
    ru, vip = Skill.objects.create(name="ru"), Skill.objects.create(name="vip")
    anna = OperatorFactory(name="Anna")
    url = reverse("admin:crm_operator_change", args=[anna.pk])
    assert admin_client.post(url, operator_admin_form(anna, name="Anna K", skills=[ru.pk])).status_code == 302
    assert entries(anna)[1:] == [("~", [("name", "Anna", "Anna K"), ("skills", None, "ru")])]
    # The entry the save wrote recorded the lists before the change: they are replaced, not added to.
    anna.refresh_from_db()
    form = operator_admin_form(anna, name="Anna", skills=[vip.pk])
    assert admin_client.post(url, form).status_code == 302
    assert entries(anna)[2:] == [("~", [("name", "Anna K", "Anna"), ("skills", "ru", "vip")])]
    # Skills alone still make their own entry, and a save that changes nothing makes none.
    anna.refresh_from_db()
    assert admin_client.post(url, operator_admin_form(anna, skills=[])).status_code == 302
    assert admin_client.post(url, operator_admin_form(anna, skills=[])).status_code == 302
    assert entries(anna)[3:] == [("~", [("skills", "vip", None)])]


def test_a_source_added_with_skills_on_the_admin_page_is_one_entry(admin_client):
    ru = Skill.objects.create(name="ru")
    form = source_admin_form(SourceFactory.build(name="Bot"), required_skills=[ru.pk])
    assert admin_client.post(reverse("admin:crm_source_add"), form).status_code == 302  # to the token's page
    [(kind, changed)] = entries(Source.objects.get(name="Bot"))
    assert kind == "+" and ("required skills", None, "ru") in changed


def test_outside_one_request_each_change_stays_its_own_entry():
    Skill.objects.create(name="ru")
    anna = OperatorFactory(name="Anna")
    capacity.set_operator_skills(operator=anna, names=["ru"])
    assert [kind for kind, _ in entries(anna)] == ["+", "~"]


def test_skills_given_while_the_page_was_open_stay_when_it_saves_something_else(admin_client):
    ru = Skill.objects.create(name="ru")
    Skill.objects.create(name="vip")
    anna = OperatorFactory(name="Anna")
    anna.skills.set([ru])
    form = operator_admin_form(anna, name="Anna K")  # the page as loaded, showing ru
    capacity.set_operator_skills(operator=anna, names=["ru", "vip"])  # through the API meanwhile
    url = reverse("admin:crm_operator_change", args=[anna.pk])
    assert admin_client.post(url, form).status_code == 302
    anna.refresh_from_db()
    assert anna.name == "Anna K" and sorted(anna.skills.values_list("name", flat=True)) == ["ru", "vip"]
