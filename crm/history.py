"""The change history of operators, sources and weights (django-simple-history): the fields it is about, and
a record only when one of them changed, so every entry names what changed (the Changes page, the admin's
History). The skill lists (many-to-many) are recorded with every entry, and a change of them alone is one
entry, written by the service that changed them (record_change); within one_entry() (an admin page's save,
an API call), a change of them is written into the entry the object's save wrote there."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Max
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
        "user",  # the account that signs in as the operator: who may act as them
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
# The many-to-many fields recorded with each entry (simple-history's m2m_fields): skills, shown by name.
TRACKED_RELATED = {
    "operator": ("skills",),
    "source": ("required_skills", "preferred_skills"),
    "weight": (),
}


class TrackedHistory(HistoricalRecords):
    """HistoricalRecords that skips a save which changed none of the tracked fields (a form saved as it was,
    a change of an untracked field): such a record would say "changed" and name nothing."""

    def __init__(self, *, kind: str, **kwargs) -> None:
        super().__init__(m2m_fields=TRACKED_RELATED[kind], **kwargs)
        self.kind = kind

    def contribute_to_class(self, cls, name) -> None:
        super().contribute_to_class(cls, name)
        _recorders[cls] = self

    def m2m_changed(self, *args, **kwargs) -> None:
        """Nothing: a list's `set()` sends a removal and an addition, which would be two entries, each
        half of the change. The service that changes a list records it once (record_change)."""

    def create_historical_record_m2ms(self, history_instance, instance) -> None:
        super().create_historical_record_m2ms(history_instance, instance)
        if (written := _written.get()) is not None:
            written[type(instance), instance.pk] = history_instance

    def post_save(self, instance, created, using=None, **kwargs) -> None:
        if not created and not kwargs.get("raw", False):
            # By column: a linked account compares by its id, without reading it.
            columns = [instance._meta.get_field(name).attname for name in TRACKED[self.kind]]
            latest = getattr(instance, self.manager_name).using(using).values(*columns).first()
            if latest is not None and all(latest[column] == getattr(instance, column) for column in columns):
                return
        super().post_save(instance, created, using=using, **kwargs)


_recorders: dict[type, TrackedHistory] = {}
# Inside one_entry(): the entry written for each object so far, by (model, pk).
_written: ContextVar[dict | None] = ContextVar("leadflow_history_written", default=None)


@contextmanager
def one_entry() -> Iterator[None]:
    """What one request changes of an object is one history entry. An admin page or an API call that saves
    the object and then sets its skill lists through a service (which records them, record_change) would
    otherwise write two: the save's, naming the lists as they were (an operator added with skills: created
    without any), and the lists' own. Inside, record_change amends the entry already written instead."""
    token = _written.set({})
    try:
        yield
    finally:
        _written.reset(token)


def record_change(instance) -> None:
    """One entry with the instance's fields and lists as they are now, for a change its save does not record:
    its many-to-many lists (TRACKED_RELATED), set by a service, or a link the database cleared (an account
    deleted); who made it as for any other entry. Within one_entry(), an entry already written there for
    the same object is amended to hold them instead."""
    recorder = _recorders[type(instance)]
    entry = (_written.get() or {}).get((type(instance), instance.pk))
    if entry is None:
        recorder.create_historical_record(instance, "~")
        return
    for model_field in recorder.fields_included(instance):
        setattr(entry, model_field.attname, getattr(instance, model_field.attname))
    entry.save()
    for m2m_field in entry._history_m2m_fields:
        recorder.m2m_models[m2m_field].objects.filter(history=entry).delete()
    recorder.create_historical_record_m2ms(entry, instance)


def record_account_unlinked(sender, instance, **kwargs) -> None:
    """pre_delete of a user account: the operator it signed in as loses it (the link is SET NULL, an UPDATE
    without a save, which would record nothing). Recorded as that operator's change, in the deletion's
    transaction, by whoever deletes the account."""
    from crm.models import Operator  # the models import this module

    for operator in Operator.objects.filter(user_id=instance.pk):
        operator.user = None
        record_change(operator)


def record_related_lists(model: type, pks: Iterable[int]) -> None:
    """Write the many-to-many lists into the latest entries of these objects: simple-history's bulk
    writes (bulk_update_with_history) leave them out, which would read as lists emptied. One query for the
    entries, two for each list."""
    latest = dict(
        model.history.filter(id__in=list(pks))
        .values("id")
        .annotate(last=Max("history_id"))
        .values_list("id", "last")
    )
    for name in _recorders[model].m2m_fields:
        field = model._meta.get_field(name)
        owner, other = field.m2m_field_name(), field.m2m_reverse_field_name()
        held = field.remote_field.through.objects.filter(**{f"{owner}_id__in": list(latest)})
        rows = getattr(model.history.model, name).model
        rows.objects.bulk_create(
            rows(id=row_id, history_id=latest[owner_id], **{f"{owner}_id": owner_id, f"{other}_id": other_id})
            for row_id, owner_id, other_id in held.values_list("id", f"{owner}_id", f"{other}_id")
        )


def related_values(kind: str, table: type, history_ids: list[int]) -> dict[int, dict[str, frozenset[str]]]:
    """The recorded many-to-many lists of these entries of `table` (kind's history model), by entry and
    field: skill names. One query per field; an entry that recorded none reads empty lists."""
    found: dict[int, dict[str, frozenset[str]]] = {history_id: {} for history_id in history_ids}
    for name in TRACKED_RELATED[kind]:
        rows = getattr(table, name).model.objects.filter(history_id__in=history_ids)
        names: dict[int, set[str]] = {}
        # A skill deleted since reads as gone from every entry alike, so it shows as no change.
        for history_id, skill in rows.values_list("history_id", "skill__name"):
            if skill is not None:
                names.setdefault(history_id, set()).add(skill)
        for history_id in history_ids:
            found[history_id][name] = frozenset(names.get(history_id, ()))
    return found


@dataclass(frozen=True)
class FieldChange:
    field: str  # the field's verbose name, as the model declares it
    old: object  # None for a created record
    new: object
    labels: dict = field(default_factory=dict)  # a choice field's labels by stored code ("available": …)


def field_changes(kind: str, record, previous, related: dict | None = None) -> list[FieldChange]:
    """What a history record changed, against the record before it (None: it was created, or the history
    starts there, so every value is new). Compared here rather than with simple-history's diff_against,
    which skips non-editable fields (the token's prefix). `related`: the entries' recorded skill lists
    (related_values), when the caller has read them for many entries at once."""
    if record.history_type == "-":
        return []
    table = type(record)

    def change(name: str, old: object, new: object) -> FieldChange:
        model_field = table._meta.get_field(name)
        labels = dict(model_field.flatchoices) if model_field.choices else {}
        return FieldChange(str(model_field.verbose_name), old, new, labels)

    def stored(entry, name: str) -> object:
        return getattr(entry, table._meta.get_field(name).attname)

    if previous is None:
        changes = [
            change(name, None, _shown(record, name))
            for name in TRACKED[kind]
            if stored(record, name) is not None
        ]
    else:
        changes = [
            change(name, _shown(previous, name), _shown(record, name))
            for name in TRACKED[kind]
            if stored(previous, name) != stored(record, name)
        ]
    if TRACKED_RELATED[kind]:
        ids = [record.history_id, *([previous.history_id] if previous else [])]
        related = related or related_values(kind, table, ids)
        for name in TRACKED_RELATED[kind]:
            new = related[record.history_id][name]
            old = related[previous.history_id][name] if previous else frozenset()
            if new != old:
                verbose_name = table.instance_type._meta.get_field(name).verbose_name
                changes.append(FieldChange(str(verbose_name), _listed(old), _listed(new)))
    return changes


def _shown(entry, name: str) -> object:
    """A recorded value as the pages show it: a linked account by its user name (read only for an entry
    that changed it), one deleted since by its number."""
    field = type(entry)._meta.get_field(name)
    if not field.is_relation or getattr(entry, field.attname) is None:
        return getattr(entry, field.attname)
    try:
        return str(getattr(entry, name))
    except ObjectDoesNotExist:
        return f"#{getattr(entry, field.attname)}"


def _listed(names: frozenset[str]) -> str | None:
    return ", ".join(sorted(names)) or None


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
