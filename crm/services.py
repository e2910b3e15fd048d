"""Supervisor actions on the configuration: the admin, its list actions and the API all call these.

A change that adds capacity (an operator activated, a limit raised, a weight added or raised) sends
`capacity_added` once it has committed; the distribution app answers by routing waiting contacts. The
signal keeps the dependency one-way: crm never imports distribution.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext
from simple_history.utils import bulk_update_with_history

from crm import secrets
from crm.models import Operator, Source, SourceOperatorWeight
from crm.validators import bounds

# Sent after commit with `sources`: the ids of the sources whose capacity grew. A receiver answers with
# how many waiting contacts it assigned.
capacity_added = Signal()


@dataclass
class Routed:
    """What a change that added capacity did to the waiting queue: `assigned` waiting contacts were routed
    once it committed (0 until then, and when no capacity was added)."""

    assigned: int = 0

    def add(self, other: "Routed") -> "Routed":
        self.assigned += other.assigned
        return self


def _announce(source_ids: Iterable[int]) -> Routed:
    routed, ids = Routed(), sorted(set(source_ids))
    if ids:

        def send() -> None:
            for _receiver, assigned in capacity_added.send(sender=Source, sources=ids):
                routed.assigned += assigned or 0

        transaction.on_commit(send)
    return routed


def _sources_of(operator_ids: Iterable[int]) -> list[int]:
    return list(
        SourceOperatorWeight.objects.filter(operator_id__in=list(operator_ids)).values_list(
            "source_id", flat=True
        )
    )


def create_source(*, name: str, keep_operator: bool = False) -> tuple[Source, str]:
    """A new source and its webhook token (the only time the token is seen: only its digest is stored)."""
    source = Source(name=name, keep_operator=keep_operator)
    return source, add_source(source=source)


def add_source(*, source: Source) -> str:
    """Validate and store a new, unsaved source with its first webhook token; return the token (also in
    `source.token`), which is never stored."""
    token = secrets.new_token()
    source.token_prefix = token[: secrets.PREFIX_LENGTH]
    source.full_clean()
    with transaction.atomic():
        source.save()
        secrets.add_secret(source, token=token)
    source.token = token
    return token


def delete_sources(*, sources: QuerySet[Source]) -> int:
    """Delete the sources with their weights and tokens; returns how many were deleted.

    Their rows are locked first, as set_weights locks its source: a delete collects the weights to delete
    before it deletes the source, so without the lock a concurrent PUT of weights could add one in between
    and the source's delete would fail on it.
    """
    with transaction.atomic():
        locked = list(Source.objects.select_for_update().filter(pk__in=sources.values("pk")))
        for source in locked:
            source.delete()
    return len(locked)


def regenerate_token(*, source: Source, grace: timedelta = timedelta(0), now: datetime | None = None) -> str:
    """Give the source a fresh webhook token and return it (shown once).

    The token it replaces keeps working for `grace` (none: it stops at once), so a channel can be switched
    over without losing contacts; tokens replaced earlier keep their own grace (crm.secrets.rotate).
    Raises Source.DoesNotExist if the source was deleted meanwhile.
    """
    with transaction.atomic():
        # Read under the lock: the history record stores every field, so none may be a stale copy.
        locked = Source.objects.select_for_update().get(pk=source.pk)
        row, token = secrets.rotate(locked, grace=grace, now=now)
        locked.token_prefix = row.prefix
        locked.save(update_fields=["token_prefix", "updated_at"])
    source.token_prefix, source.token = row.prefix, token
    return token


def adds_capacity(before: Operator | None, after: Operator) -> bool:
    """Whether the operator can take more now than before: switched on, or a higher limit while on."""
    if not after.is_active:
        return False
    return before is None or not before.is_active or after.load_limit > before.load_limit


def create_operator(*, name: str, load_limit: int = 20, is_active: bool = True) -> Operator:
    operator = Operator(name=name, load_limit=load_limit, is_active=is_active)
    operator.full_clean()
    operator.save()
    return operator


def save_operator(*, operator: Operator) -> Routed:
    """Validate and store an operator edited in memory (admin form, API patch); announce added capacity,
    and say how many waiting contacts that routed (once the change has committed)."""
    operator.full_clean()
    with transaction.atomic():
        before = Operator.objects.select_for_update().filter(pk=operator.pk).first() if operator.pk else None
        operator.save()
        if adds_capacity(before, operator):
            return _announce(_sources_of([operator.pk]))
    return Routed()


def update_operator(*, operator: Operator, **changes) -> Routed:
    """Change `name`, `is_active` and/or `load_limit`; see save_operator."""
    unknown = changes.keys() - {"name", "is_active", "load_limit"}
    if unknown:
        raise ValidationError({field: gettext("Cannot be changed.") for field in unknown})
    for field, value in changes.items():
        setattr(operator, field, value)
    return save_operator(operator=operator)


def set_operators_active(*, operators: QuerySet[Operator], is_active: bool) -> tuple[int, Routed]:
    """Switch operators on or off for distribution, with history; returns how many rows changed and what
    switching them on routed."""
    changed = list(operators.exclude(is_active=is_active))
    now = timezone.now()
    for operator in changed:
        operator.is_active, operator.updated_at = is_active, now
    with transaction.atomic():
        bulk_update_with_history(changed, Operator, ["is_active", "updated_at"])
        routed = _announce(_sources_of(op.pk for op in changed)) if is_active else Routed()
    return len(changed), routed


def set_weights(*, source: Source, weights: Mapping[int, int]) -> Routed:
    """Replace the source's whole set of operator weights ({operator_id: weight}) atomically.

    Every operator must exist and every weight be within the weight field's bounds; anything else raises
    ValidationError and changes nothing. Raises Source.DoesNotExist when the source is gone (deleted while
    this ran). Weights added or raised announce added capacity; the answer says what that routed.
    """
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
    with transaction.atomic():
        # The source's row first: a delete of the source (which takes the same lock) runs wholly before
        # or after this, so the weights are never written for a source that is gone.
        Source.objects.select_for_update().filter(pk=source.pk).values_list("pk").get()
        current = {
            w.operator_id: w for w in SourceOperatorWeight.objects.select_for_update().filter(source=source)
        }
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
        return _announce([source.pk]) if grew else Routed()


def _valid_weight(weight: object) -> bool:
    """Whether the weight field would store it (its validators: at least 1, at most INT_MAX)."""
    if not isinstance(weight, int) or isinstance(weight, bool):
        return False
    try:
        SourceOperatorWeight._meta.get_field("weight").run_validators(weight)
    except ValidationError:
        return False
    return True


def weights_changed(*, source: Source, before: Mapping[int, int]) -> Routed:
    """The admin saves weights through its own formset: compare with `before` and announce growth."""
    after = dict(SourceOperatorWeight.objects.filter(source=source).values_list("operator_id", "weight"))
    if any(weight > before.get(operator_id, 0) for operator_id, weight in after.items()):
        return _announce([source.pk])
    return Routed()
