"""The pure choice: no database."""

import random
from collections import Counter

import pytest

from crm.choices import UnassignedReason
from crm.eligibility import Candidate, exclusion
from distribution.selection import choose, decide, draw

NO_OPERATORS, ALL_INACTIVE, ALL_AT_LIMIT = (
    UnassignedReason.NO_OPERATORS,
    UnassignedReason.ALL_INACTIVE,
    UnassignedReason.ALL_AT_LIMIT,
)

CHI2_P001 = {1: 10.83, 2: 13.82, 3: 16.27}  # chi-square critical values at p = 0.001 by degrees of freedom


def chi_square(counts: Counter, weights: dict[int, int]) -> float:
    n = sum(counts.values())
    total = sum(weights.values())
    return sum((counts[k] - n * w / total) ** 2 / (n * w / total) for k, w in weights.items())


def test_draws_follow_weights_1_2_3_4(rng):
    cands = [Candidate(i, weight=i, limit=100, load=0) for i in (1, 2, 3, 4)]
    counts = Counter(choose(cands, rng=rng).operator_id for _ in range(40_000))
    assert chi_square(counts, {1: 1, 2: 2, 3: 3, 4: 4}) < CHI2_P001[3]


def test_shares_are_among_eligible_operators_only(rng):
    cands = [
        Candidate(1, weight=1, limit=9, load=0),
        Candidate(2, weight=3, limit=9, load=0),
        Candidate(3, weight=6, limit=9, load=0),
        Candidate(4, weight=50, limit=9, load=9),  # full
        Candidate(5, weight=50, limit=9, load=0, active=False),
    ]
    counts = Counter(choose(cands, rng=rng).operator_id for _ in range(20_000))
    assert counts[4] == counts[5] == 0
    assert chi_square(counts, {1: 1, 2: 3, 3: 6}) < CHI2_P001[2]


def test_the_chi_square_bound_would_catch_wrong_weights(rng):
    """The statistical test is sharp enough: uniform draws do not pass as 1:2:3:4."""
    counts = Counter(rng.choice([1, 2, 3, 4]) for _ in range(20_000))
    assert chi_square(counts, {1: 1, 2: 2, 3: 3, 4: 4}) > CHI2_P001[3]


def test_redrawing_after_full_picks_keeps_exact_shares(rng):
    """The service's loop (draw, find the pick full, draw again) gives weight / sum over the eligible."""
    truth = {1: 0, 2: 5, 3: 0, 4: 5}  # loads counted on demand; 2 and 4 are full at limit 5
    counts = Counter()
    for _ in range(20_000):
        cands = [Candidate(i, weight=i, limit=5) for i in (1, 2, 3, 4)]
        while (pick := draw(cands, rng=rng)) is not None:
            counted = pick.with_load(truth[pick.operator_id])
            cands = [counted if c.operator_id == pick.operator_id else c for c in cands]
            if exclusion(counted) is None:
                counts[pick.operator_id] += 1
                break
    assert set(counts) == {1, 3}
    assert chi_square(counts, {1: 1, 3: 3}) < CHI2_P001[1]


def test_single_eligible_operator_always_wins(rng):
    cands = [Candidate(1, weight=5, limit=3, load=3), Candidate(2, weight=1, limit=3, load=2)]
    assert {choose(cands, rng=rng).operator_id for _ in range(100)} == {2}


@pytest.mark.parametrize(
    ("candidate", "why"),
    [
        (Candidate(1, weight=1, limit=5, load=4), None),
        (Candidate(1, weight=1, limit=5), None),  # not counted yet: still in the draw
        (Candidate(1, weight=1, limit=5, load=5), "at_limit"),
        (Candidate(1, weight=1, limit=5, load=6), "at_limit"),
        (Candidate(1, weight=1, limit=0), "at_limit"),  # limit 0 receives nothing, without counting
        (Candidate(1, weight=1, limit=5, load=0, active=False), "inactive"),
        (Candidate(1, weight=0, limit=5, load=0), "no_weight"),
    ],
)
def test_exclusions(candidate, why):
    assert exclusion(candidate) == why


@pytest.mark.parametrize(
    ("cands", "reason"),
    [
        ([], NO_OPERATORS),
        ([Candidate(1, 1, 5, active=False, load=0), Candidate(2, 1, 5, active=False)], ALL_INACTIVE),
        ([Candidate(1, 1, 5, load=5), Candidate(2, 1, 0)], ALL_AT_LIMIT),
        ([Candidate(1, 1, 5, load=5), Candidate(2, 1, 5, active=False)], ALL_AT_LIMIT),
    ],
)
def test_nobody_eligible_gives_no_operator_and_a_reason(cands, reason, rng):
    choice = choose(cands, rng=rng)
    assert choice.operator_id is None
    assert choice.reason == reason
    assert choice.explanation["chosen"] is None and choice.explanation["reason"] == reason
    assert all(c["p"] == 0 for c in choice.explanation["candidates"])


def test_reason_codes_match_the_model_choices():
    assert {NO_OPERATORS, ALL_INACTIVE, ALL_AT_LIMIT} <= set(UnassignedReason.values)


def test_explanation_lists_every_candidate_with_probabilities_in_the_deciding_draw():
    cands = [
        Candidate(1, weight=1, limit=5, name="Anna"),
        Candidate(2, weight=3, limit=5, load=2, name="Boris"),
        Candidate(3, weight=4, limit=5, load=5, name="Vera"),
        Candidate(4, weight=9, limit=5, active=False, name="Gleb"),
    ]
    choice = decide(cands, draws=[3, 2], chosen=cands[1])
    rows = {c["operator_id"]: c for c in choice.explanation["candidates"]}
    assert choice.operator_id == 2 and choice.reason == ""
    assert choice.explanation["draws"] == [3, 2]
    assert rows[1] == {
        "operator_id": 1,
        "name": "Anna",
        "weight": 1,
        "load": None,
        "limit": 5,
        "active": True,
        "excluded": None,
        "p": 0.25,
    }
    assert (rows[2]["p"], rows[2]["load"], rows[2]["excluded"]) == (0.75, 2, None)
    assert (rows[3]["p"], rows[3]["excluded"]) == (0.0, "at_limit")
    assert (rows[4]["p"], rows[4]["excluded"]) == (0.0, "inactive")


def test_choice_never_calls_the_global_random(monkeypatch, rng):
    monkeypatch.setattr(random, "choices", lambda *a, **k: pytest.fail("global random used"))
    assert choose([Candidate(1, 1, 5, load=0)], rng=rng).operator_id == 1


@pytest.mark.parametrize(
    "reread",
    [{}, {"weight": 0}, {"limit": 0, "active": False, "weight": 0}, {"presence": "away", "on_shift": False}],
)
def test_a_counted_candidate_is_a_copy_with_its_load_and_what_was_read_again(reread):
    fields = {"operator_id": 7, "weight": 3, "limit": 10, "name": "Ann", "skilled": False}
    before = Candidate(**fields)
    counted = before.with_load(4, **reread)
    assert counted == Candidate(**{**fields, "load": 4, **reread})
    assert type(counted) is Candidate and counted is not before
    assert before == Candidate(**fields)  # the original is untouched
    with pytest.raises(AttributeError):  # still frozen
        counted.load = 5


def test_a_counted_candidate_refuses_a_field_it_does_not_have():
    with pytest.raises(TypeError, match="limt"):
        Candidate(1, weight=1, limit=1).with_load(0, limt=3)
