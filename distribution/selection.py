"""The choice itself, over plain data: who may take a contact, the weighted draw, and the explanation.

No database here. The service feeds in the source's operators and, one draw at a time, the load it has
counted for the operator the draw landed on (see distribution.services).
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from crm.choices import Exclusion, UnassignedReason

# The codes, as the explanation stores them (labels: crm.choices).
NO_OPERATORS, ALL_INACTIVE, ALL_AT_LIMIT = (r.value for r in UnassignedReason)
INACTIVE, NO_WEIGHT, AT_LIMIT = (e.value for e in Exclusion)


@dataclass(frozen=True)
class Candidate:
    """One of the source's operators. `load` is None until it has been counted."""

    operator_id: int
    weight: int
    limit: int
    active: bool = True
    load: int | None = None
    name: str = ""

    def with_load(
        self, load: int, *, limit: int | None = None, active: bool | None = None, weight: int | None = None
    ) -> "Candidate":
        """The candidate as counted: its load, and whatever was re-read with it."""
        return replace(
            self,
            load=load,
            limit=self.limit if limit is None else limit,
            active=self.active if active is None else active,
            weight=self.weight if weight is None else weight,
        )


def exclusion(candidate: Candidate) -> str | None:
    """Why the candidate cannot take a contact, or None while it still may."""
    if not candidate.active:
        return INACTIVE
    if candidate.weight <= 0:
        return NO_WEIGHT
    if candidate.limit <= 0 or (candidate.load is not None and candidate.load >= candidate.limit):
        return AT_LIMIT
    return None


def draw(candidates: Sequence[Candidate], *, rng: random.Random) -> Candidate | None:
    """Weighted draw among the candidates not (yet) excluded; None when nobody is left."""
    open_ = [c for c in candidates if exclusion(c) is None]
    if not open_:
        return None
    return rng.choices(open_, weights=[c.weight for c in open_])[0]


def unassigned_reason(candidates: Sequence[Candidate]) -> str:
    """Why nobody could take the contact, once every candidate is excluded."""
    if not candidates:
        return NO_OPERATORS
    if not any(c.active for c in candidates):
        return ALL_INACTIVE
    return ALL_AT_LIMIT


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
    reason = "" if chosen else unassigned_reason(candidates)
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
