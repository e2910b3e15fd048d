"""Supervisors' changes to the configuration that decide nothing about routing: sources and their tokens,
new operators and their sign-in accounts. (Changes that add capacity route waiting contacts, so they live in distribution.capacity.)
The admin, the API and the commands call these."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext

from crm import secrets
from crm.history import TRACKED
from crm.models import Operator, Skill, Source


def create_source(*, name: str, keep_operator: bool = False, **fields) -> tuple[Source, str]:
    """A new source and its webhook token (the only time the token is seen: only its digest is stored)."""
    source = Source(name=name, keep_operator=keep_operator, **fields)
    return source, add_source(source=source)


# What update_source may change: every field the history tracks but the token's prefix (its rotation is
# regenerate_token's), so that no change a service can make goes unrecorded.
SOURCE_CHANGEABLE = frozenset(TRACKED["source"]) - {"token_prefix"}


def update_source(*, source: Source, **changes) -> Source:
    """Change any of SOURCE_CHANGEABLE, validated as the admin's form would (ValidationError naming the
    field), with history; Source.DoesNotExist when it was deleted meanwhile. Routes nothing: none of these
    adds capacity (offers already running keep their deadline)."""
    if unknown := changes.keys() - SOURCE_CHANGEABLE:
        raise ValidationError({name: gettext("Cannot be changed.") for name in unknown})
    with transaction.atomic():
        locked = Source.objects.select_for_update().get(pk=source.pk)
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.full_clean()
        locked.save()
    for name in changes:
        setattr(source, name, getattr(locked, name))
    return source


def add_source(*, source: Source) -> str:
    """Validate and store a new, unsaved source with its first webhook token; return the token (also in
    `source.token`), which is never stored."""
    source.token = secrets.create_owner(source)
    return source.token


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
    rotated, token = secrets.rotate(source, grace=grace, now=now)
    source.token_prefix, source.token = rotated.token_prefix, token
    return token


def skills_named(names: Iterable[str], *, field: str = "skills") -> list[Skill]:
    """The skills with these names, in their order, each once; ValidationError naming `field` and every
    unknown name otherwise."""
    wanted = list(dict.fromkeys(names))
    found = {skill.name: skill for skill in Skill.objects.filter(name__in=wanted)}
    if unknown := [name for name in wanted if name not in found]:
        raise ValidationError({field: gettext("Unknown skills: %(names)s.") % {"names": ", ".join(unknown)}})
    return [found[name] for name in wanted]


def create_skill(*, name: str) -> Skill:
    """A new skill (ValidationError naming `name` when it is taken or malformed)."""
    skill = Skill(name=name)
    skill.full_clean()
    skill.save()
    return skill


def create_operator(*, name: str, load_limit: int = 20, is_active: bool = True) -> Operator:
    operator = Operator(name=name, load_limit=load_limit, is_active=is_active)
    operator.full_clean()
    operator.save()
    return operator


def create_account(*, operator: Operator, username: str, password: str):
    """A sign-in account (no admin rights) linked to the operator, who then lands on My work. Raises
    ValidationError when the operator has an account already (linked meanwhile, too)."""
    with transaction.atomic():
        locked = Operator.objects.select_for_update().get(pk=operator.pk)
        if locked.user_id is not None:
            raise ValidationError(
                {"user": gettext("%(name)s already has a sign-in account.") % {"name": locked}}
            )
        locked.user = get_user_model().objects.create_user(username=username, password=password)
        locked.save(update_fields=["user", "updated_at"])
    operator.user = locked.user
    return locked.user
