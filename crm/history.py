"""The change history of operators, sources and weights (django-simple-history): the fields it is about, and
a record only when one of them changed, so every entry names what changed (the Changes page, the admin's
History)."""

from dataclasses import dataclass, field

from django.utils.translation import gettext
from simple_history.models import HistoricalRecords

from crm.choices import API_ACTOR_PREFIX

# The change reason the worker records (distribution.worker): a change nobody made by hand.
WORKER = "worker"

# Per kind of record, the fields whose changes are shown; the identity (ids, a weight's source and operator)
# is the subject of a change, not a change. Token digests are not recorded at all.
TRACKED = {
    "operator": (
        "name",
        "is_active",
        "load_limit",
        "presence",
        "presence_reason",
        "presence_until",
        "timezone",
    ),
    "source": (
        "name",
        "keep_operator",
        "accept_within_seconds",
        "missed_offers_before_away",
        "strategy",
        "relax_preferred_after_seconds",
        "token_prefix",
    ),
    "weight": ("weight",),
}


class TrackedHistory(HistoricalRecords):
    """HistoricalRecords that skips a save which changed none of the tracked fields (a form saved as it was,
    a change of an untracked field): such a record would say "changed" and name nothing."""

    def __init__(self, *, kind: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tracked = TRACKED[kind]

    def post_save(self, instance, created, using=None, **kwargs) -> None:
        if not created and not kwargs.get("raw", False):
            latest = getattr(instance, self.manager_name).using(using).values(*self.tracked).first()
            if latest is not None and all(latest[name] == getattr(instance, name) for name in self.tracked):
                return
        super().post_save(instance, created, using=using, **kwargs)


@dataclass(frozen=True)
class FieldChange:
    field: str  # the field's verbose name, as the model declares it
    old: object  # None for a created record
    new: object
    labels: dict = field(default_factory=dict)  # a choice field's labels by stored code ("available": …)


def field_changes(kind: str, record, previous) -> list[FieldChange]:
    """What a history record changed, against the record before it (None: it was created, or the history
    starts there, so every value is new). Compared here rather than with simple-history's diff_against,
    which skips non-editable fields (the token's prefix)."""
    if record.history_type == "-":
        return []
    table = type(record)

    def change(name: str, old: object, new: object) -> FieldChange:
        model_field = table._meta.get_field(name)
        labels = dict(model_field.flatchoices) if model_field.choices else {}
        return FieldChange(str(model_field.verbose_name), old, new, labels)

    if previous is None:
        values = [(name, getattr(record, name)) for name in TRACKED[kind]]
        return [change(name, None, value) for name, value in values if value is not None]
    return [
        change(name, getattr(previous, name), getattr(record, name))
        for name in TRACKED[kind]
        if getattr(previous, name) != getattr(record, name)
    ]


def author(record) -> str:
    """Who made a change: the signed-in user's name, else what made it if it says ("api:<key name>"), else
    "" (a command)."""
    return record.history_user.get_username() if record.history_user else record.history_change_reason or ""


def author_label(made_by: str | None) -> str:
    """Who made a change in words: a user's name as it is, a change through the API as its key ("API key
    “provisioning”", never the stored "api:provisioning"), the worker's as such; "" for none."""
    if made_by and made_by.startswith(API_ACTOR_PREFIX):
        return gettext("API key “%(name)s”") % {"name": made_by.removeprefix(API_ACTOR_PREFIX)}
    if made_by == WORKER:
        return gettext("the worker (a timed job)")
    return made_by or ""
