"""Changes that decide who can take contacts: operators switched on or off, their limits, presence and time
zone, and weights. The admin (its forms, inline weights and list actions), the operators' own page, the
worker and the API call these, and nothing else writes them (schedules: distribution.schedules).

A change that adds capacity (an operator switched on, back from away, on shift, a limit raised, a weight
added or raised) routes the waiting contacts of the sources concerned once it has committed: each service
calls the queue itself (`drain_after_commit`), and says in its answer how many that assigned (Routed).
"""

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from simple_history.utils import bulk_update_with_history

from crm import eligibility, shifts
from crm.choices import Presence
from crm.history import TRACKED, record_change, record_related_lists
from crm.models import Operator, Source, SourceOperatorWeight
from crm.services import skills_named
from crm.validators import bounds
from distribution import queue
from events import outbox

log = logging.getLogger("leadflow.distribution")


@dataclass
class Routed:
    """What a change that added capacity did to the waiting queue: `assigned` waiting contacts were routed
    once it committed (0 until then, and when it added none). Several changes' add up (`add`)."""

    count: int = 0
    parts: list["Routed"] = field(default_factory=list)

    @property
    def assigned(self) -> int:
        return self.count + sum(part.assigned for part in self.parts)

    def add(self, other: "Routed") -> "Routed":
        self.parts.append(other)
        return self


def drain_after_commit(source_ids: Iterable[int], *, now: datetime | None = None) -> Routed:
    """Route these sources' waiting contacts once the current transaction commits (at once outside one):
    within a bound, so the save stays fast; the worker's drain does the rest. `now`: the moment the change
    was decided at (the worker's injected clock), else the time of the drain."""
    routed, ids = Routed(), sorted(set(source_ids))
    if ids:

        def drain() -> None:
            routed.count = queue.drain_sources(ids, now=now).assigned
            log.info("drain after capacity change sources=%s assigned=%s", ids, routed.assigned)

        # robust: a drain that fails (it is logged) never fails the supervisor's committed change; the
        # worker's drain does it later.
        transaction.on_commit(drain, robust=True)
    return routed


def sources_of(operator_ids: Iterable[int]) -> list[int]:
    return list(
        SourceOperatorWeight.objects.filter(operator_id__in=list(operator_ids)).values_list(
            "source_id", flat=True
        )
    )


def adds_capacity(before: Operator | None, after: Operator, *, now: datetime) -> bool:
    """Whether the operator can take more now than before: reachable now and not before (switched on, back,
    on shift), or a higher limit while reachable."""
    if not eligibility.reachable(after, now):
        return False
    return before is None or not eligibility.reachable(before, now) or after.load_limit > before.load_limit


# What update_operator may change: exactly what the history tracks (its skills are set_operator_skills').
CHANGEABLE = frozenset(TRACKED["operator"])


def save_operator(
    *, operator: Operator, now: datetime | None = None, changed: Iterable[str] | None = None
) -> Routed:
    """Validate and store an operator edited in memory (admin form, API patch, the operator's own page).

    `changed`: the fields the caller changed. The others are taken from the stored row, read under its
    lock, so a copy read earlier (an admin page opened minutes ago, a request that read the operator just
    before the worker set them away) writes back nothing it did not change; `operator` is left as stored.
    None: the whole copy is written (a new operator).

    Presence is kept tidy: available has no reason and no return time, offline no reason. A return time
    must lie ahead. A new time zone moves the shift's cache with it (crm.shifts)."""
    now = now or timezone.now()
    with transaction.atomic():
        before = Operator.objects.select_for_update().filter(pk=operator.pk).first() if operator.pk else None
        if before is not None and changed is not None:
            named = set(changed)
            for kept in (f.attname for f in Operator._meta.concrete_fields if f.name not in named):
                setattr(operator, kept, getattr(before, kept))
        operator.presence_reason, operator.presence_until = tidy_presence(
            operator.presence, operator.presence_reason, operator.presence_until
        )
        operator.full_clean()
        check_presence(presence=operator.presence, until=operator.presence_until, now=now)
        operator.save()
        if before is not None and presence_of(before) != presence_of(operator):
            outbox.record_presence(before, operator, now=now)
        if before is not None and before.timezone != operator.timezone:
            shifts.store(operator, now=now)
        if adds_capacity(before, operator, now=now):
            return drain_after_commit(sources_of([operator.pk]), now=now)
    return Routed()


def tidy_presence(presence: str, reason: str, until: datetime | None) -> tuple[str, datetime | None]:
    """A presence's reason and return time without what it cannot have: available has neither, offline no
    reason (a form's leftovers of the presence before)."""
    if presence == Presence.AVAILABLE:
        return "", None
    if presence == Presence.OFFLINE:
        return "", until
    return reason, until


def check_presence(*, presence: str, until: datetime | None, now: datetime) -> None:
    """A return time ("back at") must lie ahead; available has none to check (it is cleared)."""
    if presence != Presence.AVAILABLE and until is not None and until <= now:
        raise ValidationError({"presence_until": gettext("The return time must lie ahead.")})


def presence_of(operator: Operator) -> tuple:
    return operator.presence, operator.presence_reason, operator.presence_until


def update_operator(*, operator: Operator, now: datetime | None = None, **changes) -> Routed:
    """Change any of CHANGEABLE; see save_operator.

    A reason given with a presence other than away, or a return time given with available, is refused
    (ValidationError naming it) rather than tidied away as save_operator tidies a form's leftovers: a
    caller who names both asked for two things that cannot hold together, and dropping one silently would
    answer "done" to a request that was not done."""
    if unknown := changes.keys() - CHANGEABLE:
        raise ValidationError({name: gettext("Cannot be changed.") for name in unknown})
    presence = changes.get("presence", operator.presence)
    contradictions = {}
    if changes.get("presence_reason") and presence != Presence.AWAY:
        contradictions["presence_reason"] = gettext("A reason is given only with the presence away.")
    if changes.get("presence_until") is not None and presence == Presence.AVAILABLE:
        contradictions["presence_until"] = gettext(
            "A return time is given only with the presence away or offline."
        )
    if contradictions:
        raise ValidationError(contradictions)
    for name, value in changes.items():
        setattr(operator, name, value)
    return save_operator(operator=operator, now=now, changed=changes)


def set_presence(
    *, operators: QuerySet[Operator], presence: str, reason: str = "", until: datetime | None = None
) -> tuple[int, Routed]:
    """Set several operators' presence (a list action), each with its history; how many changed, and what
    those who became available routed."""
    changed, routed = 0, Routed()
    for operator in operators:
        if (operator.presence, operator.presence_reason, operator.presence_until) == (
            presence,
            reason,
            until,
        ):
            continue
        got = update_operator(
            operator=operator, presence=presence, presence_reason=reason, presence_until=until
        )
        changed, routed = changed + 1, routed.add(got)
    return changed, routed


def set_operators_active(*, operators: QuerySet[Operator], is_active: bool) -> tuple[int, Routed]:
    """Switch operators on or off for distribution, with history; returns how many changed and what
    switching them on routed."""
    changed = list(operators.exclude(is_active=is_active))
    now = timezone.now()
    for operator in changed:
        operator.is_active, operator.updated_at = is_active, now
    with transaction.atomic():
        bulk_update_with_history(changed, Operator, ["is_active", "updated_at"])
        record_related_lists(Operator, [op.pk for op in changed])
        routed = drain_after_commit(sources_of(op.pk for op in changed)) if is_active else Routed()
    return len(changed), routed


def validate_weights(weights: Mapping[int, object]) -> None:
    """Every operator exists and every weight is one the weight field stores (at least 1, at most INT_MAX);
    ValidationError naming `weights` and/or `operator_id` otherwise."""
    errors = {}
    if bad := sorted(op for op, w in weights.items() if not _valid_weight(w)):
        low, high = bounds(SourceOperatorWeight, "weight")
        errors["weights"] = [
            gettext("Weights must be whole numbers from %(low)d to %(high)d (operators %(operators)s).")
            % {"low": low, "high": high, "operators": bad}
        ]
    if missing := sorted(
        set(weights) - set(Operator.objects.filter(pk__in=list(weights)).values_list("pk", flat=True))
    ):
        errors["operator_id"] = [gettext("No such operators: %(operators)s.") % {"operators": missing}]
    if errors:
        raise ValidationError(errors)


def _valid_weight(weight: object) -> bool:
    if not isinstance(weight, int) or isinstance(weight, bool):
        return False
    try:
        SourceOperatorWeight._meta.get_field("weight").run_validators(weight)
    except ValidationError:
        return False
    return True


def set_weights(*, source: Source, weights: Mapping[int, int]) -> Routed:
    """Replace the source's whole set of operator weights ({operator_id: weight}) atomically, recording each
    row created, changed or removed in the history; rows that stay as they were are not written.

    Raises ValidationError (validate_weights) and changes nothing when a weight or an operator is refused;
    Source.DoesNotExist when the source is gone (deleted while this ran). Weights added or raised route the
    source's waiting contacts once committed; the answer says how many.
    """
    validate_weights(weights)
    return _store_weights(source, lambda current: dict(weights))


def change_weights(*, source: Source, weights: Mapping[int, int], removed: Iterable[int] = ()) -> Routed:
    """Set some of the source's weights ({operator_id: weight}, added or changed) and remove the `removed`
    operators' rows, leaving every other row as it is stored now: what a page that showed an earlier set
    changed, so that an operator added (or a weight changed) since it was opened is not undone by it.
    Otherwise as set_weights."""
    validate_weights(weights)
    gone = set(removed) - set(weights)
    return _store_weights(
        source,
        lambda current: {
            **{op: row.weight for op, row in current.items() if op not in gone},
            **weights,
        },
    )


def _store_weights(
    source: Source, after: Callable[[dict[int, SourceOperatorWeight]], dict[int, int]]
) -> Routed:
    """Write the weights `after` makes of the stored rows ({operator_id: row}, read under the locks)."""
    with transaction.atomic():
        # The source's row first: a delete of the source (which takes the same lock) runs wholly before
        # or after this, so the weights are never written for a source that is gone.
        Source.objects.select_for_update().filter(pk=source.pk).values_list("pk").get()
        current = {
            w.operator_id: w for w in SourceOperatorWeight.objects.select_for_update().filter(source=source)
        }
        weights = after(current)
        for operator_id, row in current.items():
            if operator_id not in weights:
                row.delete()
        grew = False
        for operator_id, weight in weights.items():
            row = current.get(operator_id)
            if row is None:
                SourceOperatorWeight.objects.create(source=source, operator_id=operator_id, weight=weight)
                grew = True
            elif row.weight != weight:
                grew |= weight > row.weight
                row.weight = weight
                row.save(update_fields=["weight"])
        return drain_after_commit([source.pk]) if grew else Routed()


def set_operator_skills(*, operator: Operator, names: Iterable[str]) -> Routed:
    """Replace the operator's skills with the named ones (ValidationError naming `skills` and each unknown
    name). Skills it gains may be the ones contacts wait for: they route its sources' waiting contacts."""
    skills = skills_named(names)
    with transaction.atomic():
        # The operator's row first: a delete of the operator (or another change of its skills) runs wholly
        # before or after this one. Read whole: the history entry records the operator as it is now.
        locked = Operator.objects.select_for_update().get(pk=operator.pk)
        before = set(locked.skills.values_list("pk", flat=True))
        after = {skill.pk for skill in skills}
        if after == before:
            return Routed()
        locked.skills.set(skills)
        record_change(locked)
        if after - before:
            return drain_after_commit(sources_of([operator.pk]))
    return Routed()


def set_source_skills(
    *, source: Source, required: Iterable[str] | None = None, preferred: Iterable[str] | None = None
) -> Routed:
    """Replace the source's required and/or preferred skills (None: left as they are), keeping `uses_skills`
    (the route reads operators' skills only for sources that use some). A required skill dropped or the
    preferred ones changed may let waiting contacts through: the source's waiting contacts are then routed
    once it commits; an unchanged set writes and routes nothing."""
    errors, named = {}, {}
    for kind, names in (("required_skills", required), ("preferred_skills", preferred)):
        if names is not None:
            try:
                named[kind] = {skill.pk for skill in skills_named(names, field=kind)}
            except ValidationError as exc:
                errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = Source.objects.select_for_update().get(pk=source.pk)
        before = {kind: set(getattr(locked, kind).values_list("pk", flat=True)) for kind in named}
        changed = {kind: ids for kind, ids in named.items() if ids != before[kind]}
        for kind, ids in changed.items():
            getattr(locked, kind).set(ids)
        uses = locked.required_skills.exists() or locked.preferred_skills.exists()
        if uses != locked.uses_skills:
            Source.objects.filter(pk=locked.pk).update(uses_skills=uses)
        source.uses_skills = locked.uses_skills = uses
        if changed:
            record_change(locked)
        dropped = before.get("required_skills", set()) - changed.get("required_skills", set())
        if ("required_skills" in changed and dropped) or "preferred_skills" in changed:
            return drain_after_commit([source.pk])
    return Routed()
