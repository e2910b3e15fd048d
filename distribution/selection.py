"""The choice itself, over plain data: the source's strategy among those who may take a contact (the rules
are crm.eligibility's), and the explanation.

- weighted: a draw with probability weight / (sum of the open candidates' weights);
- round_robin: whoever was given one of the source's contacts longest ago (never: first), weights ignored;
- least_loaded: the lowest load as a share of the limit (every open candidate's load counted first);
ties are broken at random with the injected generator.

No database here. The router feeds in the source's operators and, one draw at a time, the load it has
counted for the operator the draw landed on (distribution.router).
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass

from crm.choices import Strategy
from crm.eligibility import Candidate, exclusion, waiting_reason


def draw(
    candidates: Sequence[Candidate], *, rng: random.Random, strategy: str = Strategy.WEIGHTED
) -> Candidate | None:
    """The strategy's pick among the candidates not (yet) excluded; None when nobody is left."""
    open_ = [c for c in candidates if exclusion(c) is None]
    if not open_:
        return None
    if strategy == Strategy.WEIGHTED:
        return rng.choices(open_, weights=[c.weight for c in open_])[0]
    best = min(key(c, strategy) for c in open_)
    return rng.choice([c for c in open_ if key(c, strategy) == best])


def key(candidate: Candidate, strategy: str) -> float:
    """What round robin and least loaded choose by, lowest first: seconds since the epoch of the last
    contact given (never: −inf), or load ÷ limit (an uncounted load as 0)."""
    if strategy == Strategy.ROUND_ROBIN:
        return candidate.last_given.timestamp() if candidate.last_given else float("-inf")
    return (candidate.load or 0) / candidate.limit if candidate.limit > 0 else float("inf")


def still_first(chosen: Candidate, candidates: Sequence[Candidate], strategy: str) -> bool:
    """Whether the counted pick still comes first (round robin, least loaded): what the lock re-read may have
    moved it behind another open candidate (a contact given to it meanwhile)."""
    if strategy == Strategy.WEIGHTED:
        return True
    others = [
        key(c, strategy) for c in candidates if exclusion(c) is None and c.operator_id != chosen.operator_id
    ]
    return not others or key(chosen, strategy) <= min(others)


@dataclass(frozen=True)
class Choice:
    operator_id: int | None
    reason: str  # "" when an operator was chosen
    explanation: dict


def choose(
    candidates: Sequence[Candidate], *, rng: random.Random, strategy: str = Strategy.WEIGHTED
) -> Choice:
    """Pick an operator when every load is known, by the strategy, or nobody."""
    picked = draw(candidates, rng=rng, strategy=strategy)
    draws = [picked.operator_id] if picked else []
    return decide(candidates, draws=draws, chosen=picked, strategy=strategy)


def decide(
    candidates: Sequence[Candidate],
    *,
    draws: Sequence[int],
    chosen: Candidate | None,
    strategy: str = Strategy.WEIGHTED,
) -> Choice:
    """The outcome and what the choice saw, from the candidates as finally known and the draws made."""
    reason = "" if chosen else waiting_reason(candidates)
    return Choice(
        operator_id=chosen.operator_id if chosen else None,
        reason=reason,
        explanation=explain(candidates, draws=draws, chosen=chosen, reason=reason, strategy=strategy),
    )


def explain(
    candidates: Sequence[Candidate],
    *,
    draws: Sequence[int],
    chosen: Candidate | None,
    reason: str,
    strategy: str = Strategy.WEIGHTED,
) -> dict:
    """A compact, JSON-ready record of the decision.

    `p` is each candidate's probability in the draw that decided: weight over the weights of all
    candidates not excluded at that moment (round robin, least loaded: 1 ÷ how many tied for first).
    Operators drawn earlier and found full carry `at_limit`. A `load` of None means the draw never landed
    on that operator, so it was not counted. Sources with another strategy than the weighted draw add
    `strategy` and each candidate's `key` (round robin: when last given a contact, ISO 8601 or null;
    least loaded: load ÷ limit).
    """
    excluded = [exclusion(c) for c in candidates]  # once each: a contact's explanation lists all of them
    # The deciding draw ran among the chosen operator and those not yet excluded.
    in_final_draw = [c for c, why in zip(candidates, excluded, strict=True) if why is None] if chosen else []
    if strategy == Strategy.WEIGHTED:
        total = sum(c.weight for c in in_final_draw)
        chance = {c.operator_id: round(c.weight / total, 4) for c in in_final_draw}
    else:
        best = min((key(c, strategy) for c in in_final_draw), default=None)
        tied = [c.operator_id for c in in_final_draw if key(c, strategy) == best]
        chance = {operator_id: round(1 / len(tied), 4) for operator_id in tied}
    explanation = {
        "candidates": [
            {
                "operator_id": c.operator_id,
                "name": c.name,
                "weight": c.weight,
                "load": c.load,
                "limit": c.limit,
                "active": c.active,
                "excluded": why,
                "p": chance.get(c.operator_id, 0.0),
                **({"key": shown_key(c, strategy)} if strategy != Strategy.WEIGHTED else {}),
            }
            for c, why in zip(candidates, excluded, strict=True)
        ],
        "draws": list(draws),
        "chosen": chosen.operator_id if chosen else None,
        "reason": reason,
    }
    if strategy != Strategy.WEIGHTED:
        explanation["strategy"] = strategy
    return explanation


def shown_key(candidate: Candidate, strategy: str) -> str | float | None:
    if strategy == Strategy.ROUND_ROBIN:
        return candidate.last_given.isoformat() if candidate.last_given else None
    return round(key(candidate, strategy), 4) if candidate.limit > 0 else None
