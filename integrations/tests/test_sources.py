"""/api/v1/sources: list, get with weights and shares, create (token once), PUT weights (atomic)."""

import pytest

from crm.models import Source, SourceOperatorWeight
from crm.secrets import token_digest
from crm.tests.factories import ContactFactory, OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db


def weights_of(source: Source) -> dict[int, int]:
    return dict(source.weights.values_list("operator_id", "weight"))


def test_list_is_paged_by_name(reader):
    for name in ["Site form", "Bot", "Phone"]:
        SourceFactory(name=name)
    body = reader.get("/api/v1/sources", {"limit": 2}).json()
    assert [s["name"] for s in body["items"]] == ["Bot", "Phone"] and body["count"] == 3
    assert set(body["items"][0]) == {
        "id",
        "name",
        "keep_operator",
        "accept_within_seconds",
        "missed_offers_before_away",
        "strategy",
        "required_skills",
        "preferred_skills",
        "relax_preferred_after_seconds",
        "token_prefix",
        "created_at",
        "updated_at",
    }


def test_create_answers_201_with_the_token_once(writer, reader):
    response = writer.post("/api/v1/sources", {"name": "Telegram bot"})
    assert response.status_code == 201
    body = response.json()
    source = Source.objects.get()
    assert body["id"] == source.pk and body["name"] == "Telegram bot" and body["keep_operator"] is False
    assert (
        source.secrets.get().digest == token_digest(body["token"])
        and body["token_prefix"] == body["token"][:8]
    )
    # Never again: reads show only the prefix.
    for path in ["/api/v1/sources", f"/api/v1/sources/{source.pk}"]:
        assert body["token"] not in reader.get(path).text


def test_the_new_token_works_at_the_webhook(writer):
    token = writer.post("/api/v1/sources", {"name": "Bot", "keep_operator": True}).json()["token"]
    assert Source.objects.get().keep_operator
    response = writer.post(
        "/api/contacts/", {"external_id": "u1"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201 and response.json()["unassigned_reason"] == "no_operators"


@pytest.mark.parametrize(
    "payload, field",
    [({}, "name"), ({"name": ""}, "name"), ({"name": "x" * 101}, "name"), ({"name": "Bot\x00"}, "name")],
)
def test_create_refuses_invalid_names(writer, payload, field):
    response = writer.post("/api/v1/sources", payload)
    assert response.status_code == 400 and field in response.json()["errors"]
    assert not Source.objects.exists()


def test_create_refuses_a_taken_name_with_the_models_message(writer):
    SourceFactory(name="Bot")
    response = writer.post("/api/v1/sources", {"name": "Bot"})
    assert response.status_code == 400
    assert response.json() == {"errors": {"name": ["Source with this Name already exists."]}}


def test_get_shows_weights_and_configured_against_actual_shares(reader):
    anna, boris = OperatorFactory(name="Anna", load_limit=10), OperatorFactory(name="Boris", load_limit=1)
    bot = SourceFactory(name="Bot")
    WeightFactory(source=bot, operator=anna, weight=3)
    WeightFactory(source=bot, operator=boris, weight=1)
    ContactFactory(source=bot, operator=anna)
    ContactFactory(source=bot, operator=boris)
    ContactFactory(source=bot, operator=None)
    body = reader.get(f"/api/v1/sources/{bot.pk}").json()
    assert sorted((w["operator_id"], w["weight"]) for w in body["weights"]) == [(anna.pk, 3), (boris.pk, 1)]
    shares = {row["name"]: row for row in body["operators"]}
    assert shares["Anna"]["weight_share"] == 75.0 and shares["Anna"]["actual_share"] == 50.0
    assert shares["Boris"]["weight_share"] == 25.0 and shares["Boris"]["contacts"] == 1
    assert body["assigned"] == 2 and body["free"] == 9 and body["blocked"] is None
    assert body["waiting"]["count"] == 1 and body["waiting"]["oldest"] is not None
    assert "token" not in body


def test_get_unknown_source_is_404(reader):
    assert reader.get("/api/v1/sources/77").json() == {"errors": {"id": ["No source with id 77."]}}


def test_put_weights_replaces_the_whole_set(writer):
    anna, boris, cleo = OperatorFactory(), OperatorFactory(), OperatorFactory()
    bot = SourceFactory()
    WeightFactory(source=bot, operator=anna, weight=5)
    WeightFactory(source=bot, operator=boris, weight=1)
    response = writer.put(
        f"/api/v1/sources/{bot.pk}/weights",
        {"weights": [{"operator_id": boris.pk, "weight": 2}, {"operator_id": cleo.pk, "weight": 3}]},
    )
    assert response.status_code == 200
    assert weights_of(bot) == {boris.pk: 2, cleo.pk: 3}
    assert sorted((w["operator_id"], w["weight"]) for w in response.json()["weights"]) == [
        (boris.pk, 2),
        (cleo.pk, 3),
    ]
    assert writer.put(f"/api/v1/sources/{bot.pk}/weights", {"weights": []}).status_code == 200
    assert weights_of(bot) == {}


@pytest.mark.parametrize(
    "weights, field",
    [
        ([{"operator_id": "A", "weight": 0}], "weights.0.weight"),
        ([{"operator_id": "A", "weight": 2}, {"operator_id": "A", "weight": 3}], "weights"),
        ([{"operator_id": "A", "weight": 2}, {"operator_id": 987654, "weight": 3}], "operator_id"),
        ([{"operator_id": "A", "weight": 1.5}], "weights.0.weight"),
        ([{"operator_id": "A"}], "weights.0.weight"),
        ([{"operator_id": 2**64, "weight": 1}], "weights.0.operator_id"),
        ({"A": 1}, "weights"),
    ],
    ids=["zero", "duplicate", "unknown-operator", "fraction", "missing-weight", "huge-id", "not-a-list"],
)
def test_put_weights_refuses_invalid_sets_and_changes_nothing(writer, weights, field):
    anna, boris = OperatorFactory(), OperatorFactory()
    bot = SourceFactory()
    WeightFactory(source=bot, operator=boris, weight=4)
    resolve = {"A": anna.pk}
    if isinstance(weights, list):
        weights = [{**w, "operator_id": resolve.get(w["operator_id"], w["operator_id"])} for w in weights]
    response = writer.put(f"/api/v1/sources/{bot.pk}/weights", {"weights": weights})
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert weights_of(bot) == {boris.pk: 4}


def test_put_weights_without_the_list_is_400(writer):
    bot = SourceFactory()
    assert list(writer.put(f"/api/v1/sources/{bot.pk}/weights", {}).json()["errors"]) == ["weights"]


def test_put_weights_on_an_unknown_source_is_404(writer):
    operator = OperatorFactory()
    response = writer.put(
        "/api/v1/sources/55/weights", {"weights": [{"operator_id": operator.pk, "weight": 1}]}
    )
    assert response.status_code == 404 and not SourceOperatorWeight.objects.exists()


def test_adding_a_weight_routes_waiting_contacts(writer, django_capture_on_commit_callbacks):
    anna, bot = OperatorFactory(), SourceFactory()
    waiting = ContactFactory(source=bot, operator=None)
    with django_capture_on_commit_callbacks(execute=True):
        writer.put(f"/api/v1/sources/{bot.pk}/weights", {"weights": [{"operator_id": anna.pk, "weight": 1}]})
    waiting.refresh_from_db()
    assert waiting.operator_id == anna.pk
