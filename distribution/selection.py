"""The choice itself, over plain data: the weighted draw among those who may take a contact (the rules are
crm.eligibility's), and the explanation.

No database here. The router feeds in the source's operators and, one draw at a time, the load it has
counted for the operator the draw landed on (distribution.router).
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass

from crm.eligibility import Candidate, exclusion, waiting_reason


def draw(candidates: Sequence[Candidate], *, rng: random.Random) -> Candidate | None:
    """Weighted draw among the candidates not (yet) excluded; None when nobody is left."""
    open_ = [c for c in candidates if exclusion(c) is None]
    if not open_:
        return None
    return rng.choices(open_, weights=[c.weight for c in open_])[0]


@dataclass(frozen=True)
class Choice:
    operator_id: int | None
    reason: str  # "" when an operator was chosen
    explanation: dict


def choose(candidates: Sequence[Candidate], *, rng: random.Random) -> Choice:
    """Pick an operator when every load is known: weight / (sum of eligible weights), or nobody."""
    picked = draw(candidates, rng=rng)
    draws = [picked.operator_id] if picked else []
    return decide(candidates, draws=draws, chosen=picked)


def decide(candidates: Sequence[Candidate], *, draws: Sequence[int], chosen: Candidate | None) -> Choice:
    """The outcome and what the choice saw, from the candidates as finally known and the draws made."""
    reason = "" if chosen else waiting_reason(candidates)
    return Choice(
        operator_id=chosen.operator_id if chosen else None,
        reason=reason,
        explanation=explain(candidates, draws=draws, chosen=chosen, reason=reason),
    )


def explain(
    candidates: Sequence[Candidate], *, draws: Sequence[int], chosen: Candidate | None, reason: str
) -> dict:
    """A compact, JSON-ready record of the decision.

    `p` is each candidate's probability in the draw that decided: weight over the weights of all
    candidates not excluded at that moment. Operators drawn earlier and found full carry `at_limit`.
    A `load` of None means the draw never landed on that operator, so it was not counted.
    """
    if chosen:
        # The deciding draw ran among the chosen operator and those not yet excluded.
        in_final_draw = [c for c in candidates if exclusion(c) is None]
    else:
        in_final_draw = []
    total = sum(c.weight for c in in_final_draw)
    final_ids = {c.operator_id for c in in_final_draw}
    return {
        "candidates": [
            {
                "operator_id": c.operator_id,
                "name": c.name,
                "weight": c.weight,
                "load": c.load,
                "limit": c.limit,
                "active": c.active,
                "excluded": exclusion(c),
                "p": round(c.weight / total, 4) if c.operator_id in final_ids else 0.0,
            }
            for c in candidates
        ],
        "draws": list(draws),
        "chosen": chosen.operator_id if chosen else None,
        "reason": reason,
    }
