"""A route's version (crm.models.RouteChange, migration 0021's triggers): moved by every change of what a
route reads, by nothing else; kept short by the worker without losing a change (routes.compact_changes)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.choices import Presence, Strategy
from crm.models import Operator, RouteChange, Skill, Source, SourceOperatorWeight
from crm.secrets import token_digest
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory
from distribution import db, intake, routes, sql, worker
from distribution.routes import known_route, source_route
from distribution.tests.test_webhook import post
from events.models import Event, Subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def source():
    """Two operators: Anna holds ru, Boris (away, back in an hour) holds vip; the source requires ru and
    prefers vip. A skill b2b exists that no one here uses, and another source with an operator of its own."""
    source = SourceFactory(name="Site")
    anna = WeightFactory(source=source, operator=OperatorFactory(name="Anna", load_limit=10)).operator
    boris = WeightFactory(source=source, operator=OperatorFactory(name="Boris", load_limit=10)).operator
    Operator.objects.filter(pk=boris.pk).update(
        presence=Presence.AWAY, presence_reason="lunch", presence_until=timezone.now() + timedelta(hours=1)
    )
    ru, vip, _ = (Skill.objects.create(name=name) for name in ("ru", "vip", "b2b"))
    anna.skills.add(ru)
    boris.skills.add(vip)
    source.required_skills.add(ru)
    source.preferred_skills.add(vip)
    Source.objects.filter(pk=source.pk).update(uses_skills=True)
    WeightFactory(source=SourceFactory(name="Other"), operator=OperatorFactory(name="Other's"))
    return source


def version(source: Source) -> tuple:
    """What the token check compares: the source, whether it is subscribed to, and its version."""
    return source_route(source.pk).stamp


def operator(name: str):
    return Operator.objects.filter(name=name)


def skill(name: str) -> Skill:
    return Skill.objects.get(name=name)


CHANGES = {
    # The source's routing columns.
    "source renamed": lambda s: Source.objects.filter(pk=s.pk).update(name="Site 2"),
    "keeps operators": lambda s: Source.objects.filter(pk=s.pk).update(keep_operator=True),
    "makes offers": lambda s: Source.objects.filter(pk=s.pk).update(accept_within_seconds=60),
    "strategy": lambda s: Source.objects.filter(pk=s.pk).update(strategy=Strategy.LEAST_LOADED),
    "relax time": lambda s: Source.objects.filter(pk=s.pk).update(relax_preferred_after_seconds=30),
    "skills switched off": lambda s: Source.objects.filter(pk=s.pk).update(uses_skills=False),
    # Its weights.
    "operator added": lambda s: WeightFactory(source=s),
    "operator removed": lambda s: SourceOperatorWeight.objects.filter(
        source=s, operator__name="Anna"
    ).delete(),
    "weight changed": lambda s: SourceOperatorWeight.objects.filter(source=s).update(weight=7),
    "weight moved to another operator": lambda s: SourceOperatorWeight.objects.filter(
        source=s, operator__name="Anna"
    ).update(operator=Operator.objects.get(name="Other's")),
    # Its operators' routing columns.
    "operator renamed": lambda s: operator("Anna").update(name="Anne"),
    "operator switched off": lambda s: operator("Anna").update(is_active=False),
    "limit": lambda s: operator("Anna").update(load_limit=3),
    "presence": lambda s: operator("Anna").update(presence=Presence.OFFLINE),
    "scheduled": lambda s: operator("Anna").update(scheduled=True),
    "shift starts": lambda s: operator("Anna").update(shift_starts_at=timezone.now()),
    "shift ends": lambda s: operator("Anna").update(shift_ends_at=timezone.now()),
    # Skills: the source's, its operators', their names.
    "required skill added": lambda s: s.required_skills.add(skill("b2b")),
    "required skill removed": lambda s: s.required_skills.remove(skill("ru")),
    "preferred skill added": lambda s: s.preferred_skills.add(skill("b2b")),
    "preferred skill removed": lambda s: s.preferred_skills.remove(skill("vip")),
    "operator's skill added": lambda s: operator("Anna").get().skills.add(skill("b2b")),
    "operator's skill removed": lambda s: operator("Anna").get().skills.remove(skill("ru")),
    "required skill renamed": lambda s: Skill.objects.filter(name="ru").update(name="russian"),
    "a required skill deleted": lambda s: skill("ru").delete(),
}


@pytest.mark.parametrize("change", CHANGES)
def test_every_change_of_what_a_route_reads_moves_its_version(source, change):
    before = version(source)
    CHANGES[change](source)
    assert version(source) != before


@pytest.mark.parametrize("held_by_operator", [True, False], ids=["held, not preferred", "preferred only"])
def test_a_skill_renamed_moves_the_version_by_each_of_its_uses(source, held_by_operator):
    # vip is both preferred by the source and held by Boris: each use alone must be enough.
    if held_by_operator:
        source.preferred_skills.clear()
    else:
        operator("Boris").get().skills.clear()
    before = version(source)
    Skill.objects.filter(name="vip").update(name="v-i-p")
    assert version(source) != before


SAME = {
    "round robin's last-given time": lambda s: SourceOperatorWeight.objects.filter(source=s).update(
        last_given_at=timezone.now()
    ),
    "missed offers": lambda s: SourceOperatorWeight.objects.filter(source=s).update(missed_offers=2),
    "back-at time": lambda s: operator("Boris").update(presence_until=timezone.now() + timedelta(hours=2)),
    "away reason": lambda s: operator("Boris").update(presence_reason="meeting"),
    "shift due": lambda s: operator("Anna").update(shift_due_at=timezone.now()),
    "operator's time zone": lambda s: operator("Anna").update(timezone="Asia/Tokyo"),
    "operator saved unchanged": lambda s: operator("Anna").get().save(),
    "source saved unchanged": lambda s: Source.objects.get(pk=s.pk).save(),
    "token prefix": lambda s: Source.objects.filter(pk=s.pk).update(token_prefix="abcd"),
    "missed offers before away": lambda s: Source.objects.filter(pk=s.pk).update(missed_offers_before_away=5),
    "a skill no one here uses renamed": lambda s: Skill.objects.filter(name="b2b").update(name="b-2-b"),
    "another source's operator added": lambda s: WeightFactory(source=Source.objects.get(name="Other")),
    "another source's operator changed": lambda s: operator("Other's").update(load_limit=1),
    "contacts stored": lambda s: [
        intake.store_contact(source=s, external_id=f"lead-{n}", skills=["ru"]) for n in range(3)
    ],
}


@pytest.mark.parametrize("change", SAME)
def test_nothing_else_moves_it(source, change):
    before = version(source)
    SAME[change](source)
    assert version(source) == before


def test_the_token_check_reads_what_the_route_was_read_with(source):
    digest = token_digest(source.token)
    route = routes.route_for_token_digest(digest)
    assert db.fetch_all(sql.route_check(digest, now=timezone.now())) == [route.stamp]
    operator("Anna").update(load_limit=3)
    assert db.fetch_all(sql.route_check(digest, now=timezone.now())) != [route.stamp]


def test_a_remembered_route_is_decided_on_again_after_a_change(client, source):
    Source.objects.filter(pk=source.pk).update(uses_skills=False)
    source.required_skills.clear()
    source.preferred_skills.clear()
    operator("Boris").update(presence=Presence.AVAILABLE, presence_reason="", presence_until=None)
    assert post(client, source, {"external_id": "first"}).status_code == 201
    assert known_route(token_digest(source.token)) is not None
    operator("Anna").update(is_active=False)
    for n in range(4):
        assert post(client, source, {"external_id": f"after-{n}"}).json()["assigned_operator"] == (
            operator("Boris").get().pk
        )


def make_changes(source: Source, n: int) -> None:
    for limit in range(n):
        operator("Anna").update(load_limit=20 + limit)


def test_the_worker_keeps_versions_short_and_every_compaction_moves_them(source):
    make_changes(source, 5)
    seen = version(source)
    assert routes.compact_changes(keep=3) == 1
    assert RouteChange.objects.filter(source_id=source.pk).count() == 1
    compacted = version(source)
    assert compacted != seen  # a worker that remembered the deleted ids reads the route again (once)
    # Below the bound nothing moves: no needless reads of the route.
    assert routes.compact_changes(keep=3) == 0 and version(source) == compacted
    # Compacted again after more changes: a version no one has seen, not the empty one of last time.
    make_changes(source, 5)
    routes.compact_changes(keep=3)
    assert version(source) not in (compacted, seen)


def test_a_change_committed_late_and_compacted_before_anyone_read_it_still_moves_the_version(source):
    make_changes(source, 3)
    routes.compact_changes(keep=1)
    remembered = version(source)
    (newest,) = RouteChange.objects.filter(source_id=source.pk).values_list("pk", flat=True)
    # A change that took its id before the compaction's row and committed after it (ids are taken in one
    # order and committed in another): the compaction's row is not the newest id.
    RouteChange.objects.create(pk=newest - 1, source_id=source.pk)
    assert version(source) != remembered
    routes.compact_changes(keep=1)
    assert version(source) != remembered


def test_the_worker_compacts_and_forgets_deleted_sources(source):
    make_changes(source, routes.KEEP_CHANGES + 1)
    gone = SourceFactory(name="Gone")
    WeightFactory(source=gone)
    gone_id = gone.pk
    gone.delete()
    assert RouteChange.objects.filter(source_id=gone_id).exists()
    worker.run_once()
    assert RouteChange.objects.filter(source_id=source.pk).count() == 1
    assert not RouteChange.objects.filter(source_id=gone_id).exists()


def test_a_subscription_added_after_the_route_was_remembered_gets_the_next_contacts_event(client, source):
    # No version follows subscriptions: the token check reads whether there is one itself.
    assert post(client, source, {"external_id": "before"}).status_code == 201
    assert known_route(token_digest(source.token)) is not None
    Subscription.objects.create(url="https://example.com/hook", source=source)
    contact_id = post(client, source, {"external_id": "after"}).json()["contact_id"]
    assert Event.objects.filter(source=source, subject=f"contact:{contact_id}").count() == 1
    assert not Event.objects.exclude(subject=f"contact:{contact_id}").exists()
