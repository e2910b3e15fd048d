"""Whom a supervisor may give contacts to: the menus of the staff pages and the admin."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from crm.models import Operator, Source, SourceOperatorWeight
from crm.selectors.loads import OPERATOR_ROW, OperatorLoad

INLINE_OTHERS_MAX = 100


@dataclass(frozen=True)
class AssignGroup:
    source: Source | None  # None: the operators of none of the sources in question
    rows: list[OperatorLoad]


@dataclass(frozen=True)
class AssignChoices:
    """The operators a supervisor may hand contacts to, with their load now, and who works which source.

    `everyone` is False when only the sources' own operators were read (too many operators for a menu
    on every row, see INLINE_OTHERS_MAX); the menus then leave the other operators to the assign page.
    """

    operators: list[OperatorLoad]  # by name
    members: dict[int, list[int]]  # source id -> ids of its operators, by name
    everyone: bool = True
    # Rendered menus, per language and sources: a list page has one menu per row, most of them alike.
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    def groups(self, sources: Iterable[Source]) -> list[AssignGroup]:
        """The sources' own operators first, a group per source, then (if read) every other operator."""
        by_id = {row.operator.pk: row for row in self.operators}
        groups, seen = [], set()
        for source in {source.pk: source for source in sources}.values():
            ids = self.members.get(source.pk, [])
            groups.append(AssignGroup(source, [by_id[i] for i in ids if i in by_id]))
            seen.update(ids)
        if self.everyone:
            groups.append(AssignGroup(None, [row for row in self.operators if row.operator.pk not in seen]))
        return groups

    def is_member(self, operator_id: int, source_id: int) -> bool:
        return operator_id in self.members.get(source_id, ())


def assign_choices(*, now: datetime, source_ids: Iterable[int], inline: bool = False) -> AssignChoices:
    """Every operator with its load now (only the sources' own when `inline` and there are more than
    INLINE_OTHERS_MAX operators), and which of them work these sources. Two queries; three when `inline`
    finds that many operators."""
    members: dict[int, set[int]] = defaultdict(set)
    weights = SourceOperatorWeight.objects.filter(source_id__in=list(set(source_ids)))
    for source_id, operator_id in weights.values_list("source_id", "operator_id"):
        members[source_id].add(operator_id)
    operators = Operator.objects.with_load(now).only(*OPERATOR_ROW)
    found = list(operators[: INLINE_OTHERS_MAX + 1] if inline else operators)
    everyone = not inline or len(found) <= INLINE_OTHERS_MAX
    if not everyone:
        found = list(operators.filter(pk__in={op for ids in members.values() for op in ids}))
    rows = [OperatorLoad.of(op, now=now) for op in found]
    order = {row.operator.pk: n for n, row in enumerate(rows)}
    return AssignChoices(
        operators=rows,
        members={
            source: sorted((op for op in ids if op in order), key=order.__getitem__)
            for source, ids in members.items()
        },
        everyone=everyone,
    )


# Newest first, for a search of three characters or more: the matches are found through the trigram
# indexes (PostgreSQL) and then sorted. ORDER BY created_at DESC with a small LIMIT tempts the planner to
# walk the newest-first index hoping to meet matches early, which reads most leads when the matches are
# few or old (190 ms for a third of a million leads); NULLS LAST (a no-op, created_at is never null) is
# an order that index cannot give, so it is not tempted. The staff list and the admin both use it.
