"""The template filters: the one date format, labels from crm.choices, the explanation in plain words."""

from datetime import UTC, datetime

from crm.templatetags.leadflow import (
    explanation_rows,
    explanation_sentences,
    path_label,
    percent,
    reason_label,
    when,
)


def candidate(op_id: int, name: str, *, load=None, limit=5, excluded=None, p=0.0, active=True) -> dict:
    return {
        "operator_id": op_id,
        "name": name,
        "weight": 1,
        "load": load,
        "limit": limit,
        "active": active,
        "excluded": excluded,
        "p": p,
    }


def test_one_date_format_with_the_time_zone(settings):
    moment = datetime(2024, 6, 1, 10, 30, tzinfo=UTC)
    assert when(moment) == "2024-06-01 10:30 UTC"
    settings.TIME_ZONE = "Europe/Moscow"
    assert when(moment) == "2024-06-01 13:30 MSK"
    assert when(None) == ""


def test_labels_come_from_the_choices_and_unknown_codes_show_as_they_are():
    assert reason_label("all_at_limit") == "every active operator is at the load limit"
    assert path_label("drain") == "routed from the waiting queue"
    assert path_label("from_the_future") == "from_the_future"
    assert (percent(0.75), percent(0.001), percent(0)) == ("75%", "<1%", "0%")


def test_a_repeated_draw_reads_as_sentences():
    why = {
        "candidates": [
            candidate(1, "Anna", load=5, excluded="at_limit"),
            candidate(2, "Boris", load=1, p=0.75),
            candidate(3, "Vera", p=0.25),
            candidate(4, "Gleb", excluded="inactive", active=False),
        ],
        "draws": [1, 2],
        "chosen": 2,
        "reason": "",
        "path": "draw",
    }
    assert explanation_sentences(why) == [
        "Boris got it in a weighted draw among 2 operators who could take it (a 75% chance).",
        "The draw first landed on Anna (at the load limit), so it was repeated.",
        "Left out: Gleb (switched off).",
    ]


def test_nobody_free_sticky_fallback_and_manual_paths():
    nobody = {
        "candidates": [candidate(1, "Anna", load=5, excluded="at_limit")],
        "draws": [1],
        "chosen": None,
        "reason": "all_at_limit",
        "sticky": {"operator_id": 1, "fallback": "at_limit"},
    }
    assert explanation_sentences(nobody)[:2] == [
        "A returning lead: their previous operator Anna could not take it (at the load limit), so the usual draw ran.",
        "Nobody could take it: every active operator is at the load limit.",
    ]
    sticky = {
        "candidates": [candidate(1, "Anna", load=1, p=1.0)],
        "draws": [],
        "chosen": 1,
        "reason": "",
        "path": "sticky",
        "sticky": {"operator_id": 1, "fallback": None},
    }
    assert explanation_sentences(sticky) == [
        "A returning lead: back to Anna, who handled their previous contact."
    ]
    manual = {
        "candidates": [candidate(1, "Anna", load=5, limit=5)],
        "draws": [],
        "chosen": 1,
        "path": "manual",
    }
    assert explanation_sentences(manual) == ["Anna was chosen by hand."]
    override = {**manual, "path": "manual_override"}
    override["candidates"] = [candidate(1, "Anna", load=5, limit=5, excluded="at_limit")]
    assert explanation_sentences(override) == [
        "Anna was chosen by hand.",
        "The supervisor confirmed it although the operator was at the load limit.",
    ]
    assert explanation_sentences({}) == []


def test_a_share_is_rounded_half_up_with_the_languages_decimal_separator():
    from django.utils import translation

    from crm.templatetags.leadflow import format_share

    # 2/3 is 66.66…: half-up to 66.7 (number_format alone cut it to 66.6); 1/16 is 6.25: 6.3, not 6.2.
    assert (format_share(2, 3), format_share(1, 16), format_share(3, 4)) == ("66.7%", "6.3%", "75.0%")
    assert format_share(1, 0) == "—"
    with translation.override("ru"):
        assert format_share(2, 3) == "66,7%"


def test_who_assigned_reads_in_words_through_one_lookup():
    from crm.templatetags.leadflow import actor_label

    assert actor_label("webhook") == "on arrival"
    assert actor_label("capacity_change") == "from the queue as soon as capacity appeared"
    assert actor_label("drain") == "from the waiting queue"
    assert actor_label("api:telephony") == "through the API key telephony"
    assert actor_label("anna") == "by anna"
    assert actor_label("") == actor_label(None) == ""


def test_what_happened_is_said_as_it_is_known():
    from crm.templatetags.leadflow import explanation_rows

    alone = {"candidates": [candidate(1, "Anna", load=0, p=1.0)], "draws": [1], "chosen": 1, "path": "draw"}
    assert explanation_sentences(alone) == ["Anna got it: the only operator who could take it."]
    # Two draws landed on operators found out of the running under the lock: each named with its state.
    repeated = {
        "candidates": [
            candidate(1, "Anna", load=5, limit=5, excluded="at_limit"),
            candidate(2, "Gleb", load=0, active=False, excluded="inactive"),
            candidate(3, "Vera", load=1, p=0.5),
            candidate(4, "Ida", p=0.5),
        ],
        "draws": [1, 2, 3],
        "chosen": 3,
        "path": "drain",
    }
    assert explanation_sentences(repeated)[1] == (
        "The draw first landed on Anna (at the load limit) and Gleb (switched off), so it was repeated."
    )
    # An override of someone full who is not among the source's operators (stored as no_weight): the
    # sentence says what the supervisor overrode, and where the operator came from.
    outside = {
        "candidates": [{**candidate(1, "Anna", load=5, limit=5, excluded="no_weight"), "weight": 0}],
        "draws": [],
        "chosen": 1,
        "path": "manual_override",
        "outside_source": True,
    }
    assert explanation_sentences(outside) == [
        "Anna was chosen by hand from outside the source's operators.",
        "The supervisor confirmed it although the operator was at the load limit.",
    ]
    # No draw decided a pick by hand or a returning lead: no chances in the numbers, "chosen by hand".
    [row] = explanation_rows(outside)
    assert (row["status"], row["chance"]) == ("chosen by hand", "—")
    sticky = {**alone, "path": "sticky", "draws": [], "sticky": {"operator_id": 1, "fallback": None}}
    assert [r["chance"] for r in explanation_rows(sticky)] == ["—"]
    assert [(r["status"], r["chance"]) for r in explanation_rows(repeated)][2:] == [
        ("chosen", "50%"),
        ("could take it", "50%"),
    ]


def test_operators_off_shift_away_or_offline_are_named_with_why():
    why = {
        "candidates": [
            candidate(1, "Anna", p=1.0),
            candidate(2, "Boris", excluded="away"),
            candidate(3, "Vera", excluded="offline"),
            candidate(4, "Gleb", excluded="off_shift"),
            candidate(5, "Dana", excluded="away"),
        ],
        "draws": [1],
        "chosen": 1,
        "reason": "",
        "path": "draw",
    }
    assert explanation_sentences(why)[1:] == [
        "Left out: Gleb (off shift).",
        "Left out: Boris and Dana (away).",
        "Left out: Vera (offline).",
    ]
    nobody = {
        "candidates": [candidate(1, "Anna", excluded="away")],
        "draws": [],
        "chosen": None,
        "reason": "nobody_available",
    }
    assert explanation_sentences(nobody) == [
        "Nobody could take it: every operator on shift is away or offline.",
        "Left out: Anna (away).",
    ]


def test_round_robin_and_least_loaded_say_how_they_chose_and_each_key():
    anna = candidate(1, "Anna", load=1, p=0.5) | {"key": "2024-06-01T10:30:00+00:00"}
    boris = candidate(2, "Boris", load=1, p=0.5) | {"key": "2024-06-01T10:30:00+00:00"}
    vera = candidate(3, "Vera", load=0, p=0.0) | {"key": "2024-06-01T11:00:00+00:00"}
    why = {
        "candidates": [anna, boris, vera],
        "draws": [1],
        "chosen": 1,
        "reason": "",
        "strategy": "round_robin",
    }
    assert explanation_sentences(why)[0] == (
        "Anna got it by round robin: given one of this source's contacts longest ago (2024-06-01 10:30 UTC). "
        "Tied with 1 other operator; the tie was broken at random."
    )
    never = why | {"candidates": [anna | {"key": None, "p": 1.0}, vera]}
    assert explanation_sentences(never)[0] == (
        "Anna got it by round robin: never given one of this source's contacts before."
    )
    light = why | {
        "strategy": "least_loaded",
        "candidates": [anna | {"key": 0.25, "p": 1.0}, vera | {"key": None}],
    }
    assert explanation_sentences(light)[0] == "Anna got it as the least loaded: 25% of their limit."
    rows = explanation_rows(light)
    assert [row["key_shown"] for row in rows] == ["25%", "—"]
    assert [row["key_shown"] for row in explanation_rows(never)] == ["never", "2024-06-01 11:00 UTC"]


def test_skills_are_named_and_the_missing_ones_said():
    why = {
        "candidates": [candidate(1, "Anna", excluded="no_skills")],
        "draws": [],
        "chosen": None,
        "reason": "nobody_with_skills",
        "skills": {"required": ["ru", "vip"], "preferred": [], "missing": ["vip"]},
    }
    assert explanation_sentences(why) == [
        "Nobody could take it: no available operator has the required skills.",
        "Required skills: ru, vip.",
        "Nobody who is there holds: vip.",
        "Left out: Anna (lacks a required skill).",
    ]
