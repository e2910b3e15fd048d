"""Routing strategies (weighted, round robin, least loaded) and skills (required, preferred and relaxed)."""

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.choices import Strategy, UnassignedReason
from crm.eligibility import Candidate
from crm.models import Contact, Skill
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory
from distribution import capacity
from distribution.intake import store_contact
from distribution.selection import choose, still_first
from distribution.tests.test_selection import CHI2_P001, chi_square

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


# --- The choice itself, on plain data (no database) ----------------------------------------------------

T0 = timezone.now()


def ago(seconds: int):
    return T0 - timedelta(seconds=seconds)


def picks(candidates, strategy, seeds=range(400)) -> Counter:
    return Counter(
        choose(candidates, rng=random.Random(seed), strategy=strategy).operator_id for seed in seeds
    )


def test_round_robin_picks_the_one_given_a_contact_longest_ago():
    cands = [
        Candidate(1, weight=9, limit=10, load=0, last_given=ago(10)),
        Candidate(2, weight=1, limit=10, load=0, last_given=ago(300)),
        Candidate(3, weight=5, limit=10, load=0, last_given=ago(60)),
    ]
    assert picks(cands, Strategy.ROUND_ROBIN) == {2: 400}


def test_round_robin_gives_first_to_one_never_given_a_contact():
    cands = [
        Candidate(1, weight=9, limit=10, load=0, last_given=ago(3600)),
        Candidate(2, weight=1, limit=10, load=0, last_given=None),
    ]
    assert picks(cands, Strategy.ROUND_ROBIN) == {2: 400}


def test_round_robin_skips_the_longest_idle_when_it_cannot_take_the_contact():
    cands = [
        Candidate(1, weight=1, limit=3, load=3, last_given=ago(900)),  # full
        Candidate(2, weight=0, limit=3, load=0, last_given=None),  # no weight: not the source's operator
        Candidate(3, weight=1, limit=3, load=0, last_given=ago(60)),
        Candidate(4, weight=1, limit=3, load=0, last_given=ago(30)),
    ]
    assert picks(cands, Strategy.ROUND_ROBIN) == {3: 400}


def test_least_loaded_goes_by_share_of_the_limit_not_by_count():
    cands = [
        Candidate(1, weight=1, limit=3, load=1),  # 0.33
        Candidate(2, weight=1, limit=10, load=2),  # 0.2
        Candidate(3, weight=50, limit=4, load=2),  # 0.5
    ]
    assert picks(cands, Strategy.LEAST_LOADED) == {2: 400}


@pytest.mark.parametrize("strategy", [Strategy.ROUND_ROBIN, Strategy.LEAST_LOADED])
def test_ties_are_broken_at_random_about_evenly(strategy):
    # Tied first (equal keys) and a third behind them; the tied pair in both orders.
    for order in ([1, 2], [2, 1]):
        cands = [
            Candidate(i, weight=1 if i == 1 else 7, limit=10, load=2, last_given=ago(100)) for i in order
        ] + [Candidate(3, weight=1, limit=10, load=5, last_given=ago(5))]
        counts = picks(cands, strategy, seeds=range(2_000))
        assert set(counts) == {1, 2}
        assert chi_square(counts, {1: 1, 2: 1}) < CHI2_P001[1]


def test_explanation_names_the_strategy_and_each_candidates_key():
    given = ago(120)
    cands = [
        Candidate(1, weight=1, limit=10, load=0, last_given=given),
        Candidate(2, weight=1, limit=10, load=0, last_given=None),
    ]
    explanation = choose(cands, rng=random.Random(1), strategy=Strategy.ROUND_ROBIN).explanation
    assert explanation["strategy"] == "round_robin" and explanation["chosen"] == 2
    assert {c["operator_id"]: c["key"] for c in explanation["candidates"]} == {1: given.isoformat(), 2: None}
    assert {c["operator_id"]: c["p"] for c in explanation["candidates"]} == {1: 0.0, 2: 1.0}

    cands = [Candidate(1, weight=1, limit=10, load=2), Candidate(2, weight=1, limit=4, load=1)]
    explanation = choose(cands, rng=random.Random(1), strategy=Strategy.LEAST_LOADED).explanation
    assert explanation["strategy"] == "least_loaded" and explanation["chosen"] == 1
    assert {c["operator_id"]: c["key"] for c in explanation["candidates"]} == {1: 0.2, 2: 0.25}


def test_the_weighted_explanation_is_as_before():
    cands = [Candidate(1, weight=1, limit=10, load=0)]
    explanation = choose(cands, rng=random.Random(1)).explanation
    assert "strategy" not in explanation and "key" not in explanation["candidates"][0]


def test_a_pick_tied_with_another_is_still_first_after_its_recount():
    tied = [
        Candidate(1, weight=1, limit=10, load=2, last_given=ago(100)),
        Candidate(2, weight=1, limit=10, load=2, last_given=ago(100)),
    ]
    for strategy in (Strategy.ROUND_ROBIN, Strategy.LEAST_LOADED):
        assert still_first(tied[0], tied, strategy)
    # Given a contact meanwhile (re-read under the lock): now behind the other.
    moved = [tied[0].with_load(3, last_given=ago(1)), tied[1]]
    for strategy in (Strategy.ROUND_ROBIN, Strategy.LEAST_LOADED):
        assert not still_first(moved[0], moved, strategy)
    # Behind an operator that cannot take the contact: still first.
    full = [moved[0], tied[1].with_load(10, last_given=ago(500))]
    assert still_first(full[0], full, Strategy.ROUND_ROBIN)


@pytest.mark.parametrize(
    ("candidates", "reason"),
    [
        ([Candidate(1, weight=1, limit=5, load=0, skilled=False)], "nobody_with_skills"),
        (
            [
                Candidate(1, weight=1, limit=5, load=0, skilled=False),
                Candidate(2, weight=1, limit=5, load=5),
            ],
            "all_at_limit",
        ),
        (
            [
                Candidate(1, weight=1, limit=5, load=0, preferred=False),
                Candidate(2, weight=1, limit=5, load=5),  # preferred, but full
            ],
            "waiting_for_preferred",
        ),
        # Skills come after availability: an away operator's skills do not count.
        ([Candidate(1, weight=1, limit=5, load=0, skilled=False, presence="away")], "nobody_available"),
    ],
)
def test_why_a_contact_waits_for_skills(candidates, reason):
    for strategy in Strategy.values:
        choice = choose(candidates, rng=random.Random(1), strategy=strategy)
        assert (choice.operator_id, choice.reason) == (None, reason)


def test_the_preferred_are_chosen_among_while_one_can_take_it():
    cands = [
        Candidate(1, weight=100, limit=5, load=0, preferred=False, last_given=None),
        Candidate(2, weight=1, limit=5, load=4, preferred=True, last_given=ago(5)),
    ]
    for strategy in Strategy.values:
        assert picks(cands, strategy, seeds=range(200)) == {2: 200}
