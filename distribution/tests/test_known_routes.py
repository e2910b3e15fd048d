"""A token a worker has met before: its route is assumed, and its check rides along with the contact's first
statements (distribution.routes.known_route). Whatever the check reads differently must win."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from crm.choices import Strategy
from crm.models import Contact, Lead, Operator, Skill, Source, SourceOperatorWeight
from crm.secrets import token_digest
from crm.services import regenerate_token
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory
from distribution import capacity, intake
from distribution.routes import WorkerMemory, known_route, memory, route_for_token_digest
from distribution.tests.test_webhook import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def source():
    source = SourceFactory()
    WeightFactory(source=source, operator=OperatorFactory(name="Anna", load_limit=100))
    return source


@pytest.fixture
def met(client, source):
    """The source's token, met once by this worker: its route is known from then on."""
    assert post(client, source, {"external_id": "first"}).status_code == 201
    assert known_route(token_digest(source.token)) is not None
    return source


def test_a_removed_operator_and_an_added_one_count_at_once(client, met):
    anna = SourceOperatorWeight.objects.get(source=met).operator
    SourceOperatorWeight.objects.filter(source=met).delete()
    boris = WeightFactory(source=met, operator=OperatorFactory(name="Boris", load_limit=100)).operator
    for n in range(5):
        body = post(client, met, {"external_id": f"after-{n}"}).json()
        assert body["assigned_operator"] == boris.pk != anna.pk
    explanation = Contact.objects.filter(lead__external_id="after-0").get().explanation
    assert [c["operator_id"] for c in explanation["candidates"]] == [boris.pk]


def test_a_changed_weight_or_limit_is_what_the_contact_is_decided_on(client, met):
    weight = SourceOperatorWeight.objects.get(source=met)
    weight.operator.load_limit = 1  # "first" took the one place
    weight.operator.save()
    body = post(client, met, {"external_id": "second"}).json()
    assert (body["assigned_operator"], body["unassigned_reason"]) == (None, "all_at_limit")
    seen = Contact.objects.get(lead__external_id="second").explanation["candidates"]
    assert [(c["limit"], c["load"]) for c in seen] == [(1, 1)]


def test_a_regenerated_token_is_401_and_stores_nothing(client, met):
    old = met.token
    regenerate_token(source=met)
    response = post(client, None, {"external_id": "late"}, token=old)
    assert response.status_code == 401 and "authorization" in response.json()["errors"]
    assert not Lead.objects.filter(external_id="late").exists()
    assert known_route(token_digest(old)) is None


@pytest.mark.parametrize(
    "body, headers",
    [
        ({"external_id": ""}, {}),  # would be a 400
        ({"external_id": "x", "source_id": 999_999}, {}),  # would be a 403
        ({"external_id": "x"}, {"HTTP_IDEMPOTENCY_KEY": "k" * 300}),  # would be a 400
    ],
)
def test_a_regenerated_token_is_401_before_any_other_error(client, met, body, headers):
    old = met.token
    regenerate_token(source=met)
    response = post(client, None, body, token=old, **headers)
    assert response.status_code == 401, response.content


def test_a_regenerated_token_cannot_replay_what_it_stored(client, met):
    old = met.token
    stored = post(client, met, {"external_id": "keyed"}, HTTP_IDEMPOTENCY_KEY="k-1")
    assert stored.status_code == 201
    regenerate_token(source=met)
    replay = post(client, None, {"external_id": "keyed"}, token=old, HTTP_IDEMPOTENCY_KEY="k-1")
    assert replay.status_code == 401
    assert "contact_id" not in json.loads(replay.content)


def test_a_bad_body_from_a_known_token_is_still_the_field_error(client, met):
    response = post(client, met, {"external_id": ""})
    assert response.status_code == 400 and "external_id" in response.json()["errors"]


def test_the_worker_remembers_a_bounded_number_of_tokens(client, monkeypatch):
    monkeypatch.setattr(WorkerMemory, "MAX_ROUTES", 3)
    sources = [SourceFactory() for _ in range(5)]
    for n, source in enumerate(sources):
        assert post(client, source, {"external_id": f"s{n}"}).status_code == 201
    assert len(memory.routes) == 3
    assert known_route(token_digest(sources[-1].token)) is not None
    assert known_route(token_digest(sources[0].token)) is None


def test_round_robin_times_moved_by_another_worker_keep_the_route_but_a_skill_does_not(
    client, met, monkeypatch
):
    Source.objects.filter(pk=met.pk).update(strategy=Strategy.ROUND_ROBIN)
    assert post(client, met, {"external_id": "rr-first"}).status_code == 201  # the route, read again
    attempts = []
    real = intake.store_contact
    monkeypatch.setattr(intake, "store_contact", lambda **kw: attempts.append(kw) or real(**kw))
    # Another worker gave the operator a contact: only the last-given time differs from the route known.
    SourceOperatorWeight.objects.filter(source=met).update(last_given_at=timezone.now())
    assert post(client, met, {"external_id": "rr-second"}).status_code == 201
    assert len(attempts) == 1  # decided once, not rolled back to run again
    fresh = known_route(token_digest(met.token))
    assert fresh.operators[0].last_given is not None  # the fresher read is kept
    # A skill is a route change: the contact is decided again on what was read.
    Skill.objects.create(name="ru")
    capacity.set_source_skills(source=met, required=["ru"])
    attempts.clear()
    body = post(client, met, {"external_id": "rr-third"}).json()
    assert len(attempts) == 2 and body["unassigned_reason"] == "nobody_with_skills"


def test_a_shift_and_a_last_given_time_read_with_the_route_are_exact_to_the_microsecond(met, settings):
    """The route and the lock read these moments as seconds since the epoch on PostgreSQL (sql's `epoch`):
    turned back, they are the stored values, so a shift starts at its first microsecond, not a second off
    (nor hours off in a server whose own zone is not UTC)."""
    settings.TIME_ZONE = "Asia/Tokyo"  # the process's zone too (Django sets TZ)
    starts = datetime(2026, 12, 7, 8, 0, 0, 123457, tzinfo=UTC)
    ends = starts + timedelta(hours=9, microseconds=1)
    given = datetime(2026, 12, 7, 7, 59, 59, 999999, tzinfo=UTC)
    weight = SourceOperatorWeight.objects.get(source=met)
    Operator.objects.filter(pk=weight.operator_id).update(
        scheduled=True, shift_starts_at=starts, shift_ends_at=ends
    )
    SourceOperatorWeight.objects.filter(pk=weight.pk).update(last_given_at=given)
    route = route_for_token_digest(token_digest(met.token), now=starts)
    assert route.shifts == ((0, starts, ends),)
    assert route.operators[0].last_given == given
    tick = timedelta(microseconds=1)
    for n, (now, operator_id) in enumerate(
        [(starts - tick, None), (starts, weight.operator_id), (ends - tick, weight.operator_id), (ends, None)]
    ):
        contact = intake.store_contact(source=met, external_id=f"shift-{n}", now=now, route=route)
        assert contact.operator_id == operator_id, now
