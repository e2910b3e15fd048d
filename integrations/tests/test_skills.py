"""/api/v1/skills, /api/v1/operators/{id}/skills, and a source's strategy and skills through /api/v1/sources."""

import pytest

from crm.choices import UnassignedReason
from crm.models import Contact, Skill, Source
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory
from distribution import capacity
from distribution.intake import store_contact

pytestmark = pytest.mark.django_db


def named(*names):
    return [Skill.objects.create(name=name) for name in names]


def assert_400(response, field, *mentioned):
    assert response.status_code == 400, response.content
    messages = response.json()["errors"][field]
    for name in mentioned:
        assert any(name in message for message in messages), messages


# --- /api/v1/skills ------------------------------------------------------------------------------------


def test_list_skills_by_name(reader):
    named("vip", "en", "ru")
    body = reader.get("/api/v1/skills").json()
    assert [s["name"] for s in body["items"]] == ["en", "ru", "vip"] and body["count"] == 3
    assert set(body["items"][0]) == {"id", "name"}


def test_create_skill_answers_201(writer):
    response = writer.post("/api/v1/skills", {"name": "b2b"})
    assert response.status_code == 201
    skill = Skill.objects.get()
    assert response.json() == {"id": skill.pk, "name": "b2b"}


@pytest.mark.parametrize("name", ["", "RU", "ru en", "-ru", "рус", "x" * 31, "ru!"])
def test_create_skill_refuses_malformed_names(writer, name):
    assert_400(writer.post("/api/v1/skills", {"name": name}), "name")
    assert not Skill.objects.exists()


def test_create_skill_refuses_a_taken_name(writer):
    named("ru")
    assert_400(writer.post("/api/v1/skills", {"name": "ru"}), "name")
    assert Skill.objects.count() == 1


def test_create_skill_needs_a_write_key(reader):
    assert reader.post("/api/v1/skills", {"name": "ru"}).status_code == 403
    assert not Skill.objects.exists()


def test_skills_need_a_key(client):
    assert client.get("/api/v1/skills").status_code == 401


# --- /api/v1/operators/{id}/skills ---------------------------------------------------------------------


def test_get_operator_skills(reader):
    named("ru", "vip", "en")
    anna = OperatorFactory()
    capacity.set_operator_skills(operator=anna, names=["vip", "ru"])
    response = reader.get(f"/api/v1/operators/{anna.pk}/skills")
    assert response.status_code == 200
    assert response.json() == {"operator_id": anna.pk, "skills": ["ru", "vip"]}


def test_put_operator_skills_replaces_the_whole_set(writer, reader):
    named("ru", "vip", "en")
    anna = OperatorFactory()
    capacity.set_operator_skills(operator=anna, names=["en"])
    response = writer.put(f"/api/v1/operators/{anna.pk}/skills", {"skills": ["ru", "vip"]})
    assert response.status_code == 200
    assert response.json() == {"operator_id": anna.pk, "skills": ["ru", "vip"], "waiting_assigned": 0}
    assert sorted(anna.skills.values_list("name", flat=True)) == ["ru", "vip"]
    assert reader.get(f"/api/v1/operators/{anna.pk}/skills").json()["skills"] == ["ru", "vip"]
    assert writer.put(f"/api/v1/operators/{anna.pk}/skills", {"skills": []}).json()["skills"] == []
    assert not anna.skills.exists()


def test_put_operator_skills_refuses_unknown_names_and_changes_nothing(writer):
    named("ru")
    anna = OperatorFactory()
    capacity.set_operator_skills(operator=anna, names=["ru"])
    response = writer.put(f"/api/v1/operators/{anna.pk}/skills", {"skills": ["ru", "klingon", "elvish"]})
    assert_400(response, "skills", "klingon", "elvish")
    assert list(anna.skills.values_list("name", flat=True)) == ["ru"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "skills"),
        ({"skills": "ru"}, "skills"),
        ({"skills": None}, "skills"),
        ({"skills": [1]}, "skills.0"),
    ],
)
def test_put_operator_skills_refuses_malformed_bodies(writer, body, field):
    anna = OperatorFactory()
    assert_400(writer.put(f"/api/v1/operators/{anna.pk}/skills", body), field)


def test_operator_skills_of_an_unknown_operator_are_404(reader, writer):
    named("ru")
    assert reader.get("/api/v1/operators/999/skills").status_code == 404
    assert writer.put("/api/v1/operators/999/skills", {"skills": ["ru"]}).status_code == 404


def test_put_operator_skills_needs_a_write_key(reader):
    named("ru")
    anna = OperatorFactory()
    assert reader.put(f"/api/v1/operators/{anna.pk}/skills", {"skills": ["ru"]}).status_code == 403
    assert not anna.skills.exists()


@pytest.mark.django_db(transaction=True)
def test_put_operator_skills_routes_waiting_contacts_and_says_how_many(writer):
    named("ru")
    anna = OperatorFactory(load_limit=10)
    source = SourceFactory()
    WeightFactory(source=source, operator=anna)
    capacity.set_source_skills(source=source, required=["ru"])
    waiting = store_contact(source=source, external_id="u1")
    assert waiting.unassigned_reason == UnassignedReason.NOBODY_WITH_SKILLS
    # Committed for real (no test transaction around it): the drain runs before the answer is made.
    response = writer.put(f"/api/v1/operators/{anna.pk}/skills", {"skills": ["ru"]})
    assert response.json()["waiting_assigned"] == 1
    assert Contact.objects.get().operator_id == anna.pk


# --- a source's strategy and skills --------------------------------------------------------------------


def test_get_source_shows_strategy_and_skills(reader):
    named("ru", "vip", "en")
    source = SourceFactory(strategy="round_robin", relax_preferred_after_seconds=120)
    capacity.set_source_skills(source=source, required=["ru", "en"], preferred=["vip"])
    body = reader.get(f"/api/v1/sources/{source.pk}").json()
    assert (body["strategy"], body["required_skills"], body["preferred_skills"]) == (
        "round_robin",
        ["en", "ru"],
        ["vip"],
    )
    assert body["relax_preferred_after_seconds"] == 120
    listed = reader.get("/api/v1/sources").json()["items"][0]
    assert listed["required_skills"] == ["en", "ru"] and listed["strategy"] == "round_robin"


def test_a_new_source_defaults_to_weighted_without_skills(writer):
    body = writer.post("/api/v1/sources", {"name": "Bot"}).json()
    assert (body["strategy"], body["required_skills"], body["preferred_skills"]) == ("weighted", [], [])
    assert body["relax_preferred_after_seconds"] is None


def test_create_source_with_strategy_and_skills(writer):
    named("ru", "vip")
    response = writer.post(
        "/api/v1/sources",
        {
            "name": "Bot",
            "strategy": "least_loaded",
            "required_skills": ["ru"],
            "preferred_skills": ["vip"],
            "relax_preferred_after_seconds": 90,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["strategy"], body["required_skills"], body["preferred_skills"]) == (
        "least_loaded",
        ["ru"],
        ["vip"],
    )
    source = Source.objects.get()
    assert source.strategy == "least_loaded" and source.relax_preferred_after_seconds == 90
    assert source.uses_skills
    assert list(source.required_skills.values_list("name", flat=True)) == ["ru"]


def test_create_source_with_an_unknown_skill_is_400_and_creates_nothing(writer):
    named("ru")
    response = writer.post("/api/v1/sources", {"name": "Bot", "required_skills": ["ru", "klingon"]})
    assert_400(response, "required_skills", "klingon")
    assert not Source.objects.exists()


def test_patch_strategy(writer):
    source = SourceFactory()
    response = writer.patch(f"/api/v1/sources/{source.pk}", {"strategy": "round_robin"})
    assert response.status_code == 200 and response.json()["strategy"] == "round_robin"
    source.refresh_from_db()
    assert source.strategy == "round_robin"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"strategy": "fastest"}, "strategy"),
        ({"strategy": None}, "strategy"),
        ({"required_skills": ["klingon"]}, "required_skills"),
        ({"preferred_skills": ["ru", "elvish"]}, "preferred_skills"),
        ({"required_skills": "ru"}, "required_skills"),
        ({"required_skills": None}, "required_skills"),
        ({"relax_preferred_after_seconds": -1}, "relax_preferred_after_seconds"),
        ({"relax_preferred_after_seconds": "soon"}, "relax_preferred_after_seconds"),
        ({"relax_preferred_after_seconds": 10**9}, "relax_preferred_after_seconds"),
    ],
)
def test_patch_refuses_invalid_values_naming_the_field_and_changes_nothing(writer, patch, field):
    named("ru", "vip")
    source = SourceFactory(relax_preferred_after_seconds=60)
    capacity.set_source_skills(source=source, required=["ru"], preferred=["vip"])
    response = writer.patch(f"/api/v1/sources/{source.pk}", {**patch, "name": "Renamed"})
    assert_400(response, field)
    for unknown in ("klingon", "elvish"):
        if unknown in str(patch):
            assert unknown in str(response.json()["errors"][field])
    source.refresh_from_db()
    assert source.name != "Renamed" and source.strategy == "weighted"
    assert source.relax_preferred_after_seconds == 60
    assert list(source.required_skills.values_list("name", flat=True)) == ["ru"]
    assert list(source.preferred_skills.values_list("name", flat=True)) == ["vip"]


def test_patch_of_required_skills_leaves_the_others(writer):
    named("ru", "en", "vip")
    source = SourceFactory(strategy="round_robin", relax_preferred_after_seconds=45)
    capacity.set_source_skills(source=source, required=["ru"], preferred=["vip"])
    response = writer.patch(f"/api/v1/sources/{source.pk}", {"required_skills": ["en", "ru"]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["required_skills"], body["preferred_skills"], body["strategy"]) == (
        ["en", "ru"],
        ["vip"],
        "round_robin",
    )
    assert body["relax_preferred_after_seconds"] == 45


def test_patch_relax_to_null_never_relaxes(writer):
    source = SourceFactory(relax_preferred_after_seconds=45)
    response = writer.patch(f"/api/v1/sources/{source.pk}", {"relax_preferred_after_seconds": None})
    assert response.status_code == 200 and response.json()["relax_preferred_after_seconds"] is None
    source.refresh_from_db()
    assert source.relax_preferred_after_seconds is None


def test_patch_clearing_the_skills_turns_them_off_and_routes_the_waiting(
    writer, django_capture_on_commit_callbacks
):
    named("ru")
    anna = OperatorFactory(load_limit=10)
    source = SourceFactory()
    WeightFactory(source=source, operator=anna)
    capacity.set_source_skills(source=source, required=["ru"])
    store_contact(source=source, external_id="u1")
    with django_capture_on_commit_callbacks(execute=True):
        response = writer.patch(f"/api/v1/sources/{source.pk}", {"required_skills": []})
    assert response.status_code == 200 and response.json()["required_skills"] == []
    source.refresh_from_db()
    assert not source.uses_skills
    assert Contact.objects.get().operator_id == anna.pk


def test_patch_source_skills_needs_a_write_key(reader):
    named("ru")
    source = SourceFactory()
    assert reader.patch(f"/api/v1/sources/{source.pk}", {"required_skills": ["ru"]}).status_code == 403
    assert not source.required_skills.exists()


def test_a_skills_change_through_the_api_is_one_entry_in_the_history_as_the_keys(writer, write_key):
    named("ru", "vip")
    anna = OperatorFactory()
    before = anna.history.count()
    assert writer.put(f"/api/v1/operators/{anna.pk}/skills", {"skills": ["ru", "vip"]}).status_code == 200
    assert anna.history.count() == before + 1
    latest = anna.history.first()
    assert latest.history_change_reason == f"api:{write_key[0].name}" and latest.history_user is None
    assert sorted(latest.skills.values_list("skill__name", flat=True)) == ["ru", "vip"]


def test_a_source_created_or_changed_with_skills_through_the_api_is_one_entry_each(writer):
    named("ru", "vip")
    response = writer.post("/api/v1/sources", {"name": "Bot", "required_skills": ["ru"]})
    assert response.status_code == 201, response.content
    source = Source.objects.get(name="Bot")
    assert list(source.history.values_list("history_type", flat=True)) == ["+"]
    created = source.history.get()
    assert list(created.required_skills.values_list("skill__name", flat=True)) == ["ru"]
    assert created.uses_skills  # the entry holds the source as the call left it
    changed = {"strategy": "least_loaded", "preferred_skills": ["vip"]}
    assert writer.patch(f"/api/v1/sources/{source.pk}", changed).status_code == 200
    latest, created = source.history.all()[:2]
    assert source.history.count() == 2 and latest.history_type == "~" and latest.strategy == "least_loaded"
    assert list(latest.preferred_skills.values_list("skill__name", flat=True)) == ["vip"]
    assert list(latest.required_skills.values_list("skill__name", flat=True)) == ["ru"]
