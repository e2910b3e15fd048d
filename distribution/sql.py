"""Every SQL statement that names tables: one module, statement text only (distribution.db runs them).

Why raw SQL at all: compiling an ORM query costs more than running these (the intake's and the queue's hot
paths), and the ORM has no conditional upsert with RETURNING (the authentication throttle). Table and
column names come from the models' `_meta`, so a renamed field breaks loudly here, not silently. Each
statement is a `Statement`: its SQL with `%s` placeholders and its own list of parameters, so two
statements can never overwrite each other's values when they travel together (db.run_together). The
named ones are prepared once per connection on PostgreSQL (db).
"""

from dataclasses import dataclass
from datetime import datetime
from functools import cache

import pydantic_core
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, JSONField, Model
from psycopg.types.json import Jsonb

from crm import eligibility
from crm.choices import OfferOutcome
from crm.models import (
    Contact,
    Lead,
    LoadHour,
    Offer,
    Operator,
    RouteChange,
    Skill,
    Source,
    SourceOperatorWeight,
    SourceToken,
)
from events.models import Event, Subscription
from throttle.models import AuthFailures


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple = ()
    name: str = ""  # a statement of _sql() that runs as EXECUTE of its prepared copy where there is one


def _named(name: str, params: tuple) -> Statement:
    return Statement(named()[name], params, name)


@cache
def _contact_fields() -> list[Field]:
    return [f for f in Contact._meta.concrete_fields if not f.primary_key]


def _names() -> dict[str, str]:
    """Quoted table and column names, as the models define them."""
    quote = connection.ops.quote_name

    def table(model: type[Model]) -> str:
        return quote(model._meta.db_table)

    def column(model: type[Model], field: str) -> str:
        return quote(model._meta.get_field(field).column)

    names = {"source": table(Source), "weight": table(SourceOperatorWeight), "operator": table(Operator)}
    names["offer"] = table(Offer)
    names |= {"subscription": table(Subscription), "event": table(Event)}
    names |= {"contact": table(Contact), "lead": table(Lead), "token": table(SourceToken)}
    names["load_hour"] = table(LoadHour)
    names["change"] = table(RouteChange)
    for key, model, field in [
        ("t_source", SourceToken, "source"),
        ("t_digest", SourceToken, "digest"),
        ("t_expires", SourceToken, "expires_at"),
        ("s_keep", Source, "keep_operator"),
        ("s_accept", Source, "accept_within_seconds"),
        ("s_strategy", Source, "strategy"),
        ("s_relax", Source, "relax_preferred_after_seconds"),
        ("s_skills", Source, "uses_skills"),
        ("w_last", SourceOperatorWeight, "last_given_at"),
        ("w_source", SourceOperatorWeight, "source"),
        ("w_operator", SourceOperatorWeight, "operator"),
        ("w_weight", SourceOperatorWeight, "weight"),
        ("o_limit", Operator, "load_limit"),
        ("o_active", Operator, "is_active"),
        ("o_name", Operator, "name"),
        ("o_presence", Operator, "presence"),
        ("o_scheduled", Operator, "scheduled"),
        ("o_starts", Operator, "shift_starts_at"),
        ("o_ends", Operator, "shift_ends_at"),
        ("c_operator", Contact, "operator"),
        ("c_assigned", Contact, "assigned_at"),
        ("c_created", Contact, "created_at"),
        ("c_lead", Contact, "lead"),
        ("c_source", Contact, "source"),
        ("l_external", Lead, "external_id"),
        ("l_name", Lead, "name"),
        ("l_created", Lead, "created_at"),
        ("l_updated", Lead, "updated_at"),
        ("r_source", RouteChange, "source_id"),
        ("h_operator", LoadHour, "operator"),
        ("h_hour", LoadHour, "hour"),
        ("h_given", LoadHour, "given"),
        ("f_contact", Offer, "contact"),
        ("f_source", Offer, "source"),
        ("f_operator", Offer, "operator"),
        ("f_round", Offer, "round"),
        ("f_offered", Offer, "offered_at"),
        ("f_outcome", Offer, "outcome"),
        ("f_ended_by", Offer, "ended_by"),
        ("u_source", Subscription, "source"),
        ("u_active", Subscription, "is_active"),
        ("e_public", Event, "public_id"),
        ("e_type", Event, "type"),
        ("e_created", Event, "created_at"),
        ("e_source", Event, "source"),
        ("e_subject", Event, "subject"),
        ("e_data", Event, "data"),
        ("e_dispatched", Event, "dispatched"),
    ]:
        names[key] = column(model, field)
    return names


@cache
def named() -> dict[str, str]:
    """The named statements' text, built once per process (the vendor cannot change while it runs)."""
    n = _names()
    # SQLite cannot lock rows: there every write transaction begins with BEGIN IMMEDIATE (settings), so no
    # other writer runs meanwhile.
    n["for_update"] = " FOR UPDATE" if connection.features.has_select_for_update else ""
    n["contact_columns"] = ", ".join(connection.ops.quote_name(f.column) for f in _contact_fields())
    n["contact_values"] = ", ".join(["%s"] * len(_contact_fields()))
    # The contact inserted just before, in the same transaction: PostgreSQL's currval of its sequence;
    # on SQLite, whose writers are serialised (BEGIN IMMEDIATE), the largest id.
    if connection.vendor == "postgresql":
        n["last_contact"] = f"currval(pg_get_serial_sequence('{Contact._meta.db_table}', 'id'))"
    else:
        n["last_contact"] = "(SELECT max(id) FROM {contact})".format(**n)
    # The load window's comparison ("> %s"), as crm.eligibility defines it for the ORM too.
    n["in_window"] = connection.operators[eligibility.WINDOW_LOOKUP]
    # An operator's load (of the operator row o, its limit read with it): the contacts of the window's first,
    # partial hour counted one by one (up to the limit), plus the hourly totals of the later hours that the
    # triggers keep (crm.models.LoadHour), kept to the limit as the count was. Parameters: the window's
    # start, the end of its first hour, and that hour (crm.eligibility.whole_hours_after, epoch_hour). SQLite
    # cannot name the outer row in a LIMIT: it counts the hour whole (the same value, at the development
    # database). The first hour's lower bound compares (operator, assigned_at) pairs: only the index of those
    # pairs can read it as a range, so no plan ranges over every operator's contacts of that hour
    # (contact_given) nor over all of the operator's contacts (contact_operator_window).
    first_hour = (
        "FROM {contact} c WHERE c.{c_operator} = o.id AND (c.{c_operator}, c.{c_assigned}) {after} "
        "AND c.{c_assigned} < %s"
    ).format(after=n["in_window"] % "(o.id, %s)", **n)
    hours = (
        "(SELECT coalesce(sum(h.{h_given}), 0) FROM {load_hour} h WHERE h.{h_operator} = o.id AND h.{h_hour} > %s)"
    ).format(**n)
    limit = "coalesce(o.{o_limit}, 0)".format(**n)
    if connection.vendor == "postgresql":
        counted = f"(SELECT count(*) FROM (SELECT 1 {first_hour} LIMIT {limit}) AS window_rows)"
        n["capped_load"] = f"least({counted} + {hours}, {limit})"
    else:
        n["capped_load"] = f"min((SELECT count(*) {first_hour}) + {hours}, {limit})"
    with_operators = (
        "LEFT JOIN {weight} w ON w.{w_source} = s.id LEFT JOIN {operator} o ON o.id = w.{w_operator} "
    )

    # The moments the route and the lock read (shifts, round robin's last given) as seconds since the epoch
    # on PostgreSQL, which routes.moment turns back into datetimes to the microsecond: Django reads a
    # timestamptz column in Python, some 5 µs a value, and the route's check, sent with every contact,
    # reads two for each scheduled operator (with everyone on a schedule a fifth of the intake's time); a
    # float is read in C. SQLite's come as text either way.
    def epoch(column: str) -> str:
        return f"date_part('epoch', {column})" if connection.vendor == "postgresql" else column

    n["last_given"] = epoch("w.{w_last}".format(**n))
    # What decides whether an operator can take a contact, its load aside (crm.eligibility): read with the
    # route, and again under the operator's lock.
    n["reachable"] = "o.{o_limit}, o.{o_active}, o.{o_presence}, o.{o_scheduled}, {starts}, {ends}".format(
        starts=epoch("o.{o_starts}".format(**n)), ends=epoch("o.{o_ends}".format(**n)), **n
    )
    # Whether an active subscription may want the source's events (events.outbox.wanted): read with the
    # route, so that the intake writes its event only then, in its last round trip, and a subscription
    # added since the route was remembered changes the route (the token check then decides again).
    n["subscribed"] = (
        "EXISTS (SELECT 1 FROM {subscription} u WHERE u.{u_active} AND (u.{u_source} IS NULL OR "
        "u.{u_source} = s.id))"
    ).format(**n)

    # Skills, only for a source that uses them (required or preferred ones): the source's, and each
    # operator's, as lists of skill names (PostgreSQL arrays; SQLite "en,ru"). Other sources read nulls.
    skill_table = connection.ops.quote_name(Skill._meta.db_table)
    skill_name = connection.ops.quote_name(Skill._meta.get_field("name").column)

    def skill_names(field, owner: str) -> str:
        through = field.remote_field.through._meta
        table = connection.ops.quote_name(through.db_table)
        owner_column = connection.ops.quote_name(field.m2m_column_name())
        skill_column = connection.ops.quote_name(field.m2m_reverse_name())
        listed = (
            f"SELECT sk.{skill_name} FROM {table} k JOIN {skill_table} sk ON sk.id = k.{skill_column} "
            f"WHERE k.{owner_column} = {owner}"
        )
        # In the link table's order (skill id), which its (owner, skill) index reads as it is: ordered by name,
        # each operator's list was sorted on its own, 20 sorts a token check (30–50 µs of the backend's
        # CPU). The lists are read as sets (routes.names); a fixed order keeps two reads of a route equal.
        if connection.vendor == "postgresql":
            names = f"ARRAY({listed} ORDER BY k.{skill_column})"
        else:
            names = f"(SELECT group_concat({skill_name}) FROM ({listed} ORDER BY k.{skill_column}))"
        return f"CASE WHEN s.{n['s_skills']} THEN {names} END"

    n["source_required"] = skill_names(Source._meta.get_field("required_skills"), "s.id")
    n["source_preferred"] = skill_names(Source._meta.get_field("preferred_skills"), "s.id")
    n["operator_skills"] = skill_names(Operator._meta.get_field("skills"), "o.id")

    # The route's version (crm.models.RouteChange): the ids of the source's changes, in order, read over
    # the (source, id) index. A PostgreSQL array; SQLite's "4,9".
    changes = "SELECT c.id FROM {change} c WHERE c.{r_source} = s.id ORDER BY c.id".format(**n)
    if connection.vendor == "postgresql":
        n["version"] = f"ARRAY({changes})"
    else:
        n["version"] = f"(SELECT group_concat(id) FROM ({changes}))"
    # The token, as every check reads it: current, or rotated and within its grace (crm.secrets).
    n["token_source"] = (
        "FROM {token} t JOIN {source} s ON s.id = t.{t_source} "
        "WHERE t.{t_digest} = %s AND (t.{t_expires} IS NULL OR t.{t_expires} > %s)"
    ).format(**n)

    def source_with_operators(found: str) -> str:
        """The source `found` reads (a FROM ... WHERE naming it s), with its operators. The source's own
        values are read once, in a materialised CTE: in the join's select list, its subscription and skills
        subqueries (correlated with s) would run again for each of its operators' rows, 80 index reads of
        the subscriptions per token check at 20 operators."""
        return (
            "WITH found_source AS MATERIALIZED (SELECT s.id, s.name, s.{s_keep}, s.{s_accept}, "
            "{subscribed} AS subscribed, s.{s_strategy}, s.{s_relax}, {source_required} AS required, "
            "{source_preferred} AS preferred, s.{s_skills}, {version} AS version " + found + ") "
            "SELECT s.id, s.name, s.{s_keep}, s.{s_accept}, s.subscribed, s.{s_strategy}, s.{s_relax}, "
            "s.required, s.preferred, w.{w_operator}, w.{w_weight}, o.{o_name}, {last_given}, "
            "{operator_skills}, {reachable}, s.version FROM found_source s "
            + with_operators
            + "ORDER BY w.{w_operator}"
        ).format(**n)

    return {
        # One lookup of the token's digest (unique index) that brings the source and its operators along:
        # its cost does not depend on how many sources or tokens exist. A token works while it is the
        # source's current one (no end) or within its grace period (crm.secrets).
        # Joined from the token, so that even a generic plan reaches the source through its primary key.
        "authenticate": source_with_operators(n["token_source"]),
        # A remembered route confirmed (routes.Route.confirmed_by): the token, and of the route only what
        # no version follows (whether someone subscribes to its events) and its version.
        "route_check": "SELECT s.id, {subscribed}, {version} {token_source}".format(**n),
        "source_operators": source_with_operators("FROM {source} s WHERE s.id = %s"),
        # INSERT ... ON CONFLICT: the losing insert of a race waits for the winner and updates its row, so
        # one external_id never makes a second lead nor an error. SQLite 3.35+ runs it unchanged.
        "upsert_lead": (
            "INSERT INTO {lead} ({l_external}, {l_name}, {l_created}, {l_updated}) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT ({l_external}) DO UPDATE SET {l_updated} = excluded.{l_updated}, "
            "{l_name} = CASE WHEN excluded.{l_name} = '' THEN {lead}.{l_name} ELSE excluded.{l_name} END "
            "RETURNING id"
        ).format(**n),
        "lock_operator": "SELECT {reachable} FROM {operator} o WHERE id = %s{for_update}".format(**n),
        # Run once the lock is granted, so its snapshot holds everything the previous holder committed:
        # the operator's weight for this source now (a removed operator has none) and its load.
        "weight_and_load": (
            "SELECT (SELECT {w_weight} FROM {weight} WHERE {w_source} = %s AND {w_operator} = x.id), "
            "(SELECT {last_given} FROM {weight} w WHERE w.{w_source} = %s AND w.{w_operator} = x.id), "
            # An operator deleted meanwhile has no row: its limit reads 0 (the lock read nothing, so it drops
            # out anyway).
            "{capped_load} FROM (SELECT CAST(%s AS bigint) AS id) AS x LEFT JOIN {operator} o ON o.id = x.id"
        ).format(**n),
        # Loads of all the source's operators without locks, each kept to its limit as above: used to
        # skip the full ones once a draw has landed on a full operator (a flood while everyone is full
        # costs one statement, not one lock each). Loads only fall as time passes, so this can only make
        # an operator look fuller than it is for a moment: never a passed limit, and the drain routes what
        # was left waiting.
        "loads": (
            "SELECT w.{w_operator}, {capped_load} FROM {weight} w JOIN {operator} o ON o.id = w.{w_operator} "
            "WHERE w.{w_source} = %s"
        ).format(**n),
        "touch_given": "UPDATE {weight} SET {w_last} = %s WHERE {w_source} = %s AND {w_operator} = %s".format(
            **n
        ),
        "latest_operator": (
            "SELECT {c_operator} FROM {contact} WHERE {c_lead} = %s AND {c_operator} IS NOT NULL "
            "ORDER BY {c_assigned} DESC LIMIT 1"
        ).format(**n),
        "insert_contact": "INSERT INTO {contact} ({contact_columns}) VALUES ({contact_values}) RETURNING id".format(
            **n
        ),
        # The offer of the contact inserted just before, in the same round trip: its id is the session's
        # last one for the contacts' table (PostgreSQL's currval of its sequence; SQLite's last rowid).
        "insert_offer": (
            "INSERT INTO {offer} ({f_contact}, {f_source}, {f_operator}, {f_round}, {f_offered}, {f_outcome}, "
            "{f_ended_by}) VALUES ({last_contact}, %s, %s, 0, %s, %s, '')"
        ).format(**n),
        # The contact's event in the outbox (events.outbox), in the same round trip: its subject names the
        # contact inserted just before.
        "insert_event": (
            "INSERT INTO {event} ({e_public}, {e_type}, {e_created}, {e_source}, {e_subject}, {e_data}, "
            "{e_dispatched}) VALUES (%s, %s, %s, %s, 'contact:' || {last_contact}, %s, false)"
        ).format(**n),
    }


def default_db() -> BaseDatabaseWrapper:
    """The default database's wrapper. The `connection` proxy looks it up again (through a context-local)
    at every attribute; the hot path would ask it some thirty times per contact, so it asks here once."""
    return connections[DEFAULT_DB_ALIAS]


def _at(moment: datetime) -> object:
    return default_db().ops.adapt_datetimefield_value(moment)


def authenticate(digest: str, *, now: datetime) -> Statement:
    return _named("authenticate", (digest, _at(now)))


def route_check(digest: str, *, now: datetime) -> Statement:
    return _named("route_check", (digest, _at(now)))


def source_operators(source_id: int) -> Statement:
    return _named("source_operators", (source_id,))


def upsert_lead(*, external_id: str, name: str, now: datetime) -> Statement:
    at = _at(now)
    return _named("upsert_lead", (external_id, name, at, at))


def lock_operator(operator_id: int) -> Statement:
    return _named("lock_operator", (operator_id,))


def weight_and_load(*, source_id: int, operator_id: int, since: datetime) -> Statement:
    """The operator's weight for the source, when it was last given one of its contacts, and its load."""
    return _named("weight_and_load", (source_id, source_id, *_window(since), operator_id))


def touch_given(*, source_id: int, operator_id: int, now: datetime) -> Statement:
    """Round robin: the operator was given one of the source's contacts now."""
    return _named("touch_given", (_at(now), source_id, operator_id))


def loads(*, source_id: int, since: datetime) -> Statement:
    return _named("loads", (*_window(since), source_id))


def _window(since: datetime) -> tuple:
    """The capped load's parameters for a window starting at `since` (see named())."""
    return _at(since), _at(eligibility.whole_hours_after(since)), eligibility.epoch_hour(since)


def latest_operator(lead_id: int) -> Statement:
    return _named("latest_operator", (lead_id,))


def insert_offer(*, source_id: int, operator_id: int, now: datetime) -> Statement:
    """The pending offer of the contact that insert_contact inserted just before it."""
    return _named("insert_offer", (source_id, operator_id, _at(now), OfferOutcome.PENDING))


def insert_event(*, public_id: str, event_type: str, source_id: int, data: dict, now: datetime) -> Statement:
    """The outbox event of the contact that insert_contact inserted just before it."""
    data_field = Event._meta.get_field("data")
    db = default_db()
    return _named(
        "insert_event",
        (public_id, event_type, _at(now), source_id, _prepared(data_field, data, db)),
    )


def begin() -> Statement:
    return Statement("BEGIN")


def index_only() -> list[Statement]:
    """What a transaction of these statements sends first: on PostgreSQL, plan no sequential scans.

    Every statement here reads by index, and must: a contact's cost may not grow with the table. But a
    prepared statement's generic plan is made once, from the table's size at that moment, and kept for the
    connection's life: made while the contacts were a few pages (a fresh database), the load's count would
    stay a scan of them all as they grow. SET LOCAL ends with the transaction (a pooler is no matter).
    """
    return [Statement("SET LOCAL enable_seqscan = off")] if default_db().vendor == "postgresql" else []


def commit() -> Statement:
    return Statement("COMMIT")


def savepoint(name: str) -> Statement:
    return Statement(f"SAVEPOINT {name}")


def rollback_to(name: str) -> Statement:
    return Statement(f"ROLLBACK TO SAVEPOINT {name}")


def insert_contact(contact: Contact) -> Statement:
    """The INSERT of a new contact, each value prepared by its model field as the ORM would.

    A plain int, str or None is what every field here prepares it to: it goes as it is (a choice's enum
    member is not plain, and is prepared like the rest). The field machinery costs some 5 µs a value."""
    db = default_db()
    return _named(
        "insert_contact",
        tuple(
            value if type(value) in _PLAIN else _prepared(f, value, db)
            for f in _contact_fields()
            for value in (getattr(contact, f.attname),)
        ),
    )


_PLAIN = frozenset({int, str, type(None)})


def _prepared(field: Field, value: object, db: BaseDatabaseWrapper) -> object:
    if (
        isinstance(field, JSONField)
        and field.encoder is None
        and value is not None
        and db.vendor == "postgresql"
    ):
        # As the ORM would (DatabaseOperations.adapt_json_value), but written by pydantic's serializer,
        # which the integration API brings along: the same JSON value (jsonb keeps no spacing or escapes)
        # in a third of json.dumps's time, and the explanation, some 3 KB, is every contact's largest value.
        return Jsonb(value, dumps=pydantic_core.to_json)
    return field.get_db_prep_save(value, db)


def record_auth_failure(*, client: str, now: int, expired_before: int) -> Statement:
    """Count one failed authentication of `client` (unix seconds `now`): the first after its window ended
    starts a new one. One upsert, so concurrent failures in any number of workers each count once; it
    answers the count and the window's start."""
    quote = connection.ops.quote_name
    table = quote(AuthFailures._meta.db_table)
    client_c, started, failures = (
        quote(AuthFailures._meta.get_field(name).column) for name in ("client", "window_started", "failures")
    )
    text = (
        f"INSERT INTO {table} ({client_c}, {started}, {failures}) VALUES (%s, %s, 1) "
        f"ON CONFLICT ({client_c}) DO UPDATE SET "
        f"{failures} = CASE WHEN {table}.{started} > %s THEN {table}.{failures} + 1 ELSE 1 END, "
        f"{started} = CASE WHEN {table}.{started} > %s THEN {table}.{started} ELSE %s END "
        f"RETURNING {failures}, {started}"
    )
    return Statement(text, (client, now, expired_before, expired_before, now))
