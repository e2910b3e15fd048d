"""Routing strategies (weighted, round robin, least loaded) and skills (required, preferred and relaxed)."""

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.choices import Strategy, UnassignedReason
from crm.eligibility import Candidate
from crm.models import Contact, Skill, SourceOperatorWeight
from crm.tests.factories import ContactFactory, OperatorFactory, SourceFactory, WeightFactory
from distribution import capacity, queue, worker
from distribution.intake import store_contact
from distribution.selection import choose, still_first
from distribution.tests.test_concurrency import run_at_once
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


# --- Through store_contact, the drain and the worker ---------------------------------------------------


def skills(*names):
    for name in names:
        Skill.objects.get_or_create(name=name)


def skilled(*names, **fields):
    skills(*names)
    operator = OperatorFactory(**fields)
    capacity.set_operator_skills(operator=operator, names=names)
    return operator


def given_at(source, operator, moment):
    SourceOperatorWeight.objects.filter(source=source, operator=operator).update(last_given_at=moment)


def test_round_robin_through_the_intake_gives_it_to_the_one_given_longest_ago():
    anna, boris, vera = (OperatorFactory(load_limit=10) for _ in range(3))
    source = source_with(anna, boris, vera, weights=[9, 1, 9], strategy=Strategy.ROUND_ROBIN)
    now = timezone.now()
    given_at(source, anna, now - timedelta(minutes=1))
    given_at(source, boris, now - timedelta(minutes=30))
    given_at(source, vera, now - timedelta(minutes=5))
    contact = arrive(source, now=now)
    assert contact.operator_id == boris.pk
    assert contact.explanation["strategy"] == "round_robin"
    keys = {c["operator_id"]: c["key"] for c in contact.explanation["candidates"]}
    assert keys[boris.pk] == (now - timedelta(minutes=30)).isoformat()
    row = SourceOperatorWeight.objects.get(source=source, operator=boris)
    assert row.last_given_at == now  # now the one given a contact most recently
    assert arrive(source, now=now + timedelta(seconds=1)).operator_id == vera.pk


def test_round_robin_gives_a_never_given_operator_the_first_contact():
    veteran, newcomer = OperatorFactory(load_limit=10), OperatorFactory(load_limit=10)
    source = source_with(veteran, newcomer, weights=[100, 1], strategy=Strategy.ROUND_ROBIN)
    given_at(source, veteran, timezone.now() - timedelta(days=1))
    for seed in range(5):
        contact = arrive(source, seed=seed)
        assert contact.operator_id == newcomer.pk
        Contact.objects.filter(pk=contact.pk).delete()
        given_at(source, newcomer, None)


def test_round_robin_ignores_weights_but_not_membership():
    anna, boris = OperatorFactory(load_limit=50), OperatorFactory(load_limit=50)
    outsider = OperatorFactory(load_limit=50)  # never given one, but not the source's operator
    source = source_with(anna, boris, weights=[1, 1000], strategy=Strategy.ROUND_ROBIN)
    start = timezone.now()
    got = Counter(arrive(source, now=start + timedelta(seconds=i), seed=i).operator_id for i in range(10))
    assert got == {anna.pk: 5, boris.pk: 5}
    assert outsider.pk not in got


def test_round_robin_keeps_turns_per_source():
    anna, boris = OperatorFactory(load_limit=50), OperatorFactory(load_limit=50)
    bot = source_with(anna, boris, strategy=Strategy.ROUND_ROBIN)
    form = source_with(anna, boris, strategy=Strategy.ROUND_ROBIN)
    now = timezone.now()
    given_at(bot, anna, now - timedelta(minutes=1))
    given_at(bot, boris, now - timedelta(minutes=2))
    given_at(form, anna, now - timedelta(minutes=2))
    given_at(form, boris, now - timedelta(minutes=1))
    assert arrive(bot, now=now).operator_id == boris.pk
    assert arrive(form, now=now).operator_id == anna.pk


def test_round_robin_takes_turns_from_the_queue_too():
    anna, boris = OperatorFactory(load_limit=10), OperatorFactory(load_limit=10)
    source = source_with(anna, boris, strategy=Strategy.ROUND_ROBIN)
    start = timezone.now() - timedelta(minutes=10)
    waiting = [
        ContactFactory(source=source, operator=None, created_at=start + timedelta(seconds=i))
        for i in range(6)
    ]
    assert queue.drain(rng=random.Random(3)).assigned == 6
    got = [Contact.objects.get(pk=c.pk).operator_id for c in waiting]
    assert Counter(got) == {anna.pk: 3, boris.pk: 3}
    assert all(a != b for a, b in zip(got, got[1:], strict=False))  # in turns
    assert Contact.objects.get(pk=waiting[0].pk).explanation["strategy"] == "round_robin"


def test_least_loaded_through_the_intake_goes_by_share_of_the_limit():
    roomy, small = OperatorFactory(load_limit=10), OperatorFactory(load_limit=3)
    source = source_with(roomy, small, weights=[1, 100], strategy=Strategy.LEAST_LOADED)
    other = SourceFactory()  # load counts whatever the source
    for _ in range(2):
        ContactFactory(operator=roomy, source=other)
    ContactFactory(operator=small, source=other)
    contact = arrive(source)
    assert contact.operator_id == roomy.pk  # 2/10 beats 1/3
    assert contact.explanation["strategy"] == "least_loaded"
    assert {c["operator_id"]: c["key"] for c in contact.explanation["candidates"]} == {
        roomy.pk: 0.2,
        small.pk: 0.3333,
    }


def test_least_loaded_ties_through_the_intake_go_either_way():
    counts = Counter()
    for seed in range(60):
        anna, boris = OperatorFactory(load_limit=5), OperatorFactory(load_limit=5)
        source = source_with(anna, boris, strategy=Strategy.LEAST_LOADED)
        counts[arrive(source, seed=seed).operator_id == anna.pk] += 1
    assert counts[True] >= 15 and counts[False] >= 15


def test_least_loaded_fills_evenly_and_stops_at_the_limit():
    operators = [OperatorFactory(load_limit=limit) for limit in (2, 4)]
    source = source_with(*operators, strategy=Strategy.LEAST_LOADED)
    contacts = [arrive(source, seed=i) for i in range(8)]
    assert Counter(c.operator_id for c in contacts) == {operators[0].pk: 2, operators[1].pk: 4, None: 2}
    assert contacts[-1].unassigned_reason == UnassignedReason.ALL_AT_LIMIT


def test_required_skills_met_routes_to_an_operator_holding_all_of_them():
    ru_vip = skilled("ru", "vip", "en", load_limit=50)  # more skills than asked for: still eligible
    en_only = skilled("en", load_limit=10)
    plain = OperatorFactory(load_limit=10)
    source = source_with(ru_vip, en_only, plain, weights=[1, 100, 100])
    capacity.set_source_skills(source=source, required=["ru"])
    for seed in range(20):
        contact = arrive(source, seed=seed)
        assert contact.operator_id == ru_vip.pk
    assert contact.explanation["skills"] == {"required": ["ru"], "preferred": [], "missing": []}
    excluded = {c["operator_id"]: c["excluded"] for c in contact.explanation["candidates"]}
    assert excluded == {ru_vip.pk: None, en_only.pk: "no_skills", plain.pk: "no_skills"}


def test_the_contacts_skills_are_required_with_the_sources():
    ru = skilled("ru", load_limit=10)
    vip = skilled("vip", load_limit=10)
    both = skilled("ru", "vip", load_limit=10)
    source = source_with(ru, vip, both, weights=[100, 100, 1])
    capacity.set_source_skills(source=source, required=["ru"])
    for seed in range(10):
        assert arrive(source, seed=seed, skills=["vip"]).operator_id == both.pk
    plain = arrive(source, seed=99)
    assert plain.operator_id in {ru.pk, both.pk} and plain.skills == []
    capacity.set_operator_skills(operator=both, names=["ru"])
    waiting = arrive(source, skills=["vip"])
    assert waiting.operator_id is None and waiting.unassigned_reason == UnassignedReason.NOBODY_WITH_SKILLS
    assert waiting.skills == ["vip"]
    assert waiting.explanation["skills"]["required"] == ["ru", "vip"]


def test_a_contact_asks_for_skills_its_source_does_not_use():
    ru = skilled("ru", "en", load_limit=10)
    en = skilled("en", load_limit=10)
    source = source_with(ru, en, weights=[1, 100])
    assert not source.uses_skills
    for seed in range(10):
        assert arrive(source, seed=seed, skills=["ru"]).operator_id == ru.pk
    skills("de")
    waiting = arrive(source, skills=["de", "ru"])
    assert waiting.unassigned_reason == UnassignedReason.NOBODY_WITH_SKILLS
    assert waiting.explanation["skills"]["missing"] == ["de"]


def test_missing_skills_name_only_those_nobody_present_holds():
    away = skilled("ru", load_limit=10, presence="away")
    en = skilled("en", load_limit=10)
    source = source_with(away, en)
    capacity.set_source_skills(source=source, required=["ru", "en"])
    contact = arrive(source)
    assert contact.unassigned_reason == UnassignedReason.NOBODY_WITH_SKILLS
    assert contact.explanation["skills"]["missing"] == ["ru"]  # the away operator's ru does not count


def test_skilled_operators_full_is_all_at_limit_not_a_missing_skill():
    full = skilled("ru", load_limit=1)
    source = source_with(full, OperatorFactory(load_limit=10))
    capacity.set_source_skills(source=source, required=["ru"])
    assert arrive(source).operator_id == full.pk
    contact = arrive(source)
    assert contact.unassigned_reason == UnassignedReason.ALL_AT_LIMIT
    assert contact.explanation["skills"]["missing"] == []


def preferring(*operators, relax=120, strategy=Strategy.WEIGHTED, **fields):
    source = source_with(*operators, strategy=strategy, relax_preferred_after_seconds=relax, **fields)
    capacity.set_source_skills(source=source, preferred=["vip"])
    return source


@pytest.mark.parametrize("strategy", Strategy.values)
def test_preferred_operators_take_it_while_one_can(strategy):
    vip = skilled("vip", load_limit=10)
    plain = OperatorFactory(load_limit=10)
    source = preferring(plain, vip, strategy=strategy)
    for seed in range(5):
        contact = arrive(source, seed=seed)
        assert contact.operator_id == vip.pk
    assert contact.explanation["skills"] == {"required": [], "preferred": ["vip"], "missing": []}
    excluded = {c["operator_id"]: c["excluded"] for c in contact.explanation["candidates"]}
    assert excluded[plain.pk] == "not_preferred"


def test_nobody_preferred_free_waits_then_is_relaxed_at_the_relax_time_by_the_drain():
    vip = skilled("vip", load_limit=1)
    plain = OperatorFactory(load_limit=10)
    source = preferring(vip, plain, relax=120)
    now = timezone.now()
    assert arrive(source, now=now).operator_id == vip.pk
    contact = arrive(source, now=now)
    assert contact.operator_id is None
    assert contact.unassigned_reason == UnassignedReason.WAITING_FOR_PREFERRED
    assert contact.route_after == now + timedelta(seconds=120)

    assert queue.drain(now=now + timedelta(seconds=119)).assigned == 0
    contact.refresh_from_db()
    assert contact.operator_id is None
    assert queue.drain(now=now + timedelta(seconds=120)).assigned == 1  # waited the relax time: relaxed
    contact.refresh_from_db()
    assert contact.operator_id == plain.pk
    assert contact.explanation["path"] == "drain"
    assert "not_preferred" not in {c["excluded"] for c in contact.explanation["candidates"]}


def test_the_worker_relaxes_preferred_skills_on_its_injected_clock():
    vip = skilled("vip", load_limit=0)
    plain = OperatorFactory(load_limit=10)
    source = preferring(vip, plain, relax=60)
    now = timezone.now()
    contact = arrive(source, now=now)
    assert contact.unassigned_reason == UnassignedReason.WAITING_FOR_PREFERRED
    assert worker.run_once(now=now + timedelta(seconds=59)).assigned == 0
    assert worker.run_once(now=now + timedelta(seconds=61)).assigned == 1
    contact.refresh_from_db()
    assert contact.operator_id == plain.pk


def test_relax_keeps_the_required_skills():
    vip = skilled("ru", "vip", load_limit=1)
    ru = skilled("ru", load_limit=10)
    plain = OperatorFactory(load_limit=10)
    source = preferring(vip, ru, plain, relax=30)
    capacity.set_source_skills(source=source, required=["ru"])
    now = timezone.now()
    assert arrive(source, now=now).operator_id == vip.pk
    contact = arrive(source, now=now)
    assert contact.unassigned_reason == UnassignedReason.WAITING_FOR_PREFERRED
    queue.drain(now=now + timedelta(seconds=30))
    contact.refresh_from_db()
    assert contact.operator_id == ru.pk


def test_without_a_relax_time_preferred_skills_are_never_relaxed():
    vip = skilled("vip", load_limit=0)
    plain = OperatorFactory(load_limit=10)
    source = preferring(vip, plain, relax=None)
    now = timezone.now()
    contact = arrive(source, now=now)
    assert contact.unassigned_reason == UnassignedReason.WAITING_FOR_PREFERRED
    assert contact.route_after is None
    for later in (timedelta(minutes=5), timedelta(hours=2)):
        assert queue.drain(now=now + later).assigned == 0
    contact.refresh_from_db()
    assert contact.operator_id is None


def test_a_waiting_contact_goes_to_a_preferred_operator_as_soon_as_one_can_take_it(
    django_capture_on_commit_callbacks,
):
    vip = skilled("vip", load_limit=0)
    plain = OperatorFactory(load_limit=10)
    source = preferring(vip, plain, relax=3600)
    contact = arrive(source)
    assert contact.unassigned_reason == UnassignedReason.WAITING_FOR_PREFERRED
    with django_capture_on_commit_callbacks(execute=True):
        capacity.update_operator(operator=vip, load_limit=5)
    contact.refresh_from_db()
    assert contact.operator_id == vip.pk


def test_an_operator_gaining_the_preferred_skill_takes_the_waiting_contact(
    django_capture_on_commit_callbacks,
):
    skills("vip")
    future_vip = OperatorFactory(load_limit=10)
    source = preferring(future_vip, relax=3600)
    contact = arrive(source)
    assert contact.unassigned_reason == UnassignedReason.WAITING_FOR_PREFERRED
    with django_capture_on_commit_callbacks(execute=True):
        routed = capacity.set_operator_skills(operator=future_vip, names=["vip"])
    assert routed.assigned == 1
    contact.refresh_from_db()
    assert contact.operator_id == future_vip.pk


def test_dropping_a_required_skill_routes_the_waiting_contacts(django_capture_on_commit_callbacks):
    anna = OperatorFactory(load_limit=10)
    source = source_with(anna)
    skills("ru")
    capacity.set_source_skills(source=source, required=["ru"])
    assert source.uses_skills
    waiting = [arrive(source) for _ in range(2)]
    assert {c.unassigned_reason for c in waiting} == {UnassignedReason.NOBODY_WITH_SKILLS}
    with django_capture_on_commit_callbacks(execute=True):
        routed = capacity.set_source_skills(source=source, required=[])
    assert routed.assigned == 2
    source.refresh_from_db()
    assert not source.uses_skills
    assert set(Contact.objects.values_list("operator_id", flat=True)) == {anna.pk}


def test_weighted_shares_are_unchanged_with_skills_on_and_everybody_skilled():
    operators = [skilled("ru", load_limit=100_000) for _ in range(3)]
    source = source_with(*operators, weights=[1, 3, 6])
    capacity.set_source_skills(source=source, required=["ru"])
    assert source.uses_skills
    rng = random.Random(20240601)
    n = 3_000
    counts = Counter(
        store_contact(source=source, external_id=f"w-{i}", rng=rng, skills=["ru"]).operator_id
        for i in range(n)
    )
    shares = {op.pk: w for op, w in zip(operators, [1, 3, 6], strict=True)}
    assert chi_square(counts, shares) < CHI2_P001[2]


# --- Round robin under concurrency (PostgreSQL's row locks) --------------------------------------------

THREADS = 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_round_robin_never_gives_one_operator_two_while_another_has_none():
    operators = [OperatorFactory(load_limit=100) for _ in range(THREADS)]
    source = source_with(*operators, strategy=Strategy.ROUND_ROBIN)

    contacts = run_at_once(
        THREADS, lambda i: store_contact(source=source, external_id=f"rr-{i}", rng=random.Random(i))
    )

    assert Counter(c.operator_id for c in contacts) == {op.pk: 1 for op in operators}
    given = SourceOperatorWeight.objects.filter(source=source).values_list("last_given_at", flat=True)
    assert None not in given


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_round_robin_keeps_the_hard_limit():
    operators = [OperatorFactory(load_limit=1) for _ in range(THREADS)]
    source = source_with(*operators, strategy=Strategy.ROUND_ROBIN)

    run_at_once(
        2 * THREADS, lambda i: store_contact(source=source, external_id=f"rr-{i}", rng=random.Random(i))
    )

    assert Counter(Contact.objects.exclude(operator=None).values_list("operator_id", flat=True)) == {
        op.pk: 1 for op in operators
    }
    waiting = Contact.objects.filter(operator=None)
    assert waiting.count() == THREADS
    assert set(waiting.values_list("unassigned_reason", flat=True)) == {UnassignedReason.ALL_AT_LIMIT}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_least_loaded_spreads_evenly():
    operators = [OperatorFactory(load_limit=10) for _ in range(THREADS)]
    source = source_with(*operators, strategy=Strategy.LEAST_LOADED)

    run_at_once(
        2 * THREADS, lambda i: store_contact(source=source, external_id=f"ll-{i}", rng=random.Random(i))
    )

    assert Counter(Contact.objects.values_list("operator_id", flat=True)) == {op.pk: 2 for op in operators}
