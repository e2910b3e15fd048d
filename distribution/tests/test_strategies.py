"""Routing strategies (weighted, round robin, least loaded) and skills (required, preferred and relaxed)."""

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.choices import Strategy, UnassignedReason
from crm.models import Contact, Skill
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory
from distribution import capacity
from distribution.intake import store_contact

pytestmark = pytest.mark.django_db

ARRIVED = [0]


def source_with(*operators, weights=None, **fields):
    source = SourceFactory(**fields)
    for i, operator in enumerate(operators):
        WeightFactory(source=source, operator=operator, weight=weights[i] if weights else 1)
    return source


def arrive(source, *, now=None, seed=0, skills=()) -> Contact:
    ARRIVED[0] += 1
    return store_contact(
        source=source, external_id=f"lead-{ARRIVED[0]}", now=now, rng=random.Random(seed), skills=skills
    )


def test_round_robin_gives_nine_contacts_to_three_operators_three_each():
    operators = [OperatorFactory(load_limit=10) for _ in range(3)]
    source = source_with(*operators, weights=[1, 5, 9], strategy=Strategy.ROUND_ROBIN)
    start = timezone.now()
    got = [arrive(source, now=start + timedelta(seconds=i), seed=i).operator_id for i in range(9)]
    assert Counter(got) == {op.pk: 3 for op in operators}
    # and in turns: each three in a row are the three operators
    assert all(len(set(got[i : i + 3])) == 3 for i in range(0, 9, 3))


def test_required_skill_nobody_holds_waits_with_the_reason_and_names_it(django_capture_on_commit_callbacks):
    ru = Skill.objects.create(name="ru")
    Skill.objects.create(name="en")
    anna = OperatorFactory()
    capacity.set_operator_skills(operator=anna, names=["en"])
    source = source_with(anna)
    capacity.set_source_skills(source=source, required=["ru"])
    contact = arrive(source)
    assert contact.operator_id is None and contact.unassigned_reason == UnassignedReason.NOBODY_WITH_SKILLS
    assert contact.explanation["skills"]["missing"] == ["ru"]
    with django_capture_on_commit_callbacks(execute=True):
        routed = capacity.set_operator_skills(operator=anna, names=["en", ru.name])
    assert routed.assigned == 1
    contact.refresh_from_db()
    assert contact.operator_id == anna.pk
