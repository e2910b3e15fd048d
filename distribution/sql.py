"""Every SQL statement that names tables, for the intake's and the drain's hot paths: one module.

Why raw SQL at all: compiling an ORM query costs more than running these. Table and column names come
from the models' `_meta`, so a renamed field breaks loudly here, not silently. Each statement is a
`Statement`: its SQL with `%s` placeholders and its own list of parameters, so two statements can never
overwrite each other's values when they travel together (`run_together`).

On PostgreSQL each connection prepares these statements once and then sends `EXECUTE name(values)`:
PostgreSQL plans a statement sent as text anew every time, and for the intake's statements planning cost
more than running them (docs/performance.md). They run with sequential scans turned off (index_only).
"""

import logging
import re
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TypeVar

import pydantic_core
from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    connection,
    connections,
)
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, JSONField, Model
from psycopg.types.json import Jsonb

from crm import eligibility
from crm.models import Contact, Lead, Operator, Source, SourceOperatorWeight, SourceToken

T = TypeVar("T")
PREPARED_PREFIX = "leadflow_"
log = logging.getLogger("leadflow.distribution")

# "prepared statement ... does not exist" and "... already exists": what a pooler in transaction mode
# answers when statements prepared in one PostgreSQL session are run in another.
PREPARED_STATEMENT_ERRORS = frozenset({"26000", "42P05"})


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple = ()
    name: str = ""  # a statement of _sql() that runs as EXECUTE of its prepared copy where there is one


def _named(name: str, params: tuple) -> Statement:
    return Statement(_sql()[name], params, name)


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
    names |= {"contact": table(Contact), "lead": table(Lead), "token": table(SourceToken)}
    for key, model, field in [
        ("t_source", SourceToken, "source"),
        ("t_digest", SourceToken, "digest"),
        ("t_expires", SourceToken, "expires_at"),
        ("s_keep", Source, "keep_operator"),
        ("w_source", SourceOperatorWeight, "source"),
        ("w_operator", SourceOperatorWeight, "operator"),
        ("w_weight", SourceOperatorWeight, "weight"),
        ("o_limit", Operator, "load_limit"),
        ("o_active", Operator, "is_active"),
        ("o_name", Operator, "name"),
        ("c_operator", Contact, "operator"),
        ("c_assigned", Contact, "assigned_at"),
        ("c_created", Contact, "created_at"),
        ("c_lead", Contact, "lead"),
        ("c_source", Contact, "source"),
        ("l_external", Lead, "external_id"),
        ("l_name", Lead, "name"),
        ("l_created", Lead, "created_at"),
        ("l_updated", Lead, "updated_at"),
    ]:
        names[key] = column(model, field)
    return names


@cache
def _sql() -> dict[str, str]:
    """The statements' text, built once per process (the vendor cannot change while it runs)."""
    n = _names()
    # SQLite cannot lock rows: there every write transaction begins with BEGIN IMMEDIATE (settings), so no
    # other writer runs meanwhile.
    n["for_update"] = " FOR UPDATE" if connection.features.has_select_for_update else ""
    n["contact_columns"] = ", ".join(connection.ops.quote_name(f.column) for f in _contact_fields())
    n["contact_values"] = ", ".join(["%s"] * len(_contact_fields()))
    # The load window's comparison ("> %s"), as crm.eligibility defines it for the ORM too.
    n["in_window"] = connection.operators[eligibility.WINDOW_LOOKUP]
    in_window = (
        "FROM {contact} c WHERE c.{c_operator} = w.{w_operator} AND c.{c_assigned} {in_window}".format(**n)
    )
    # An operator's load counted up to its limit, for each row of w. SQLite cannot name the outer row in a
    # LIMIT: it counts the whole window and keeps the smaller (the same value, at the development database).
    if connection.vendor == "postgresql":
        n["capped_load"] = (
            f"(SELECT count(*) FROM (SELECT 1 {in_window} LIMIT o.{n['o_limit']}) AS window_rows)"
        )
    else:
        n["capped_load"] = f"min((SELECT count(*) {in_window}), o.{n['o_limit']})"
    with_operators = (
        "LEFT JOIN {weight} w ON w.{w_source} = s.id LEFT JOIN {operator} o ON o.id = w.{w_operator} "
    )
    source_with_operators = "SELECT s.id, s.name, s.{s_keep}, w.{w_operator}, w.{w_weight}, o.{o_limit}, o.{o_active}, o.{o_name} "
    return {
        # One lookup of the token's digest (unique index) that brings the source and its operators along:
        # its cost does not depend on how many sources or tokens exist. A token works while it is the
        # source's current one (no end) or within its grace period (crm.secrets).
        "authenticate": (
            # Joined from the token, so that even a generic plan reaches the source through its primary key.
            source_with_operators
            + "FROM {token} t JOIN {source} s ON s.id = t.{t_source} "
            + with_operators
            + "WHERE t.{t_digest} = %s AND (t.{t_expires} IS NULL OR t.{t_expires} > %s) ORDER BY w.{w_operator}"
        ).format(**n),
        "source_operators": (
            source_with_operators
            + "FROM {source} s "
            + with_operators
            + "WHERE s.id = %s ORDER BY w.{w_operator}"
        ).format(**n),
        # INSERT ... ON CONFLICT: the losing insert of a race waits for the winner and updates its row, so
        # one external_id never makes a second lead nor an error. SQLite 3.35+ runs it unchanged.
        "upsert_lead": (
            "INSERT INTO {lead} ({l_external}, {l_name}, {l_created}, {l_updated}) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT ({l_external}) DO UPDATE SET {l_updated} = excluded.{l_updated}, "
            "{l_name} = CASE WHEN excluded.{l_name} = '' THEN {lead}.{l_name} ELSE excluded.{l_name} END "
            "RETURNING id"
        ).format(**n),
        "lock_operator": "SELECT {o_limit}, {o_active} FROM {operator} WHERE id = %s{for_update}".format(**n),
        # Run once the lock is granted, so its snapshot holds everything the previous holder committed:
        # the operator's weight for this source now (a removed operator has none) and its load, counted
        # over at most `limit` index entries of (operator, assigned_at).
        "weight_and_load": (
            "SELECT (SELECT {w_weight} FROM {weight} WHERE {w_source} = %s AND {w_operator} = %s), "
            "(SELECT count(*) FROM (SELECT 1 FROM {contact} WHERE {c_operator} = %s AND {c_assigned} {in_window} "
            # An operator deleted meanwhile has no limit: LIMIT NULL is "no limit" on PostgreSQL but an
            # error on SQLite, and the count is moot anyway (the lock read nothing, so it drops out).
            "LIMIT coalesce((SELECT {o_limit} FROM {operator} WHERE id = %s), 0)) AS window_rows)"
        ).format(**n),
        # Loads of all the source's operators without locks, each counted up to its limit as above: used to
        # skip the full ones once a draw has landed on a full operator (a flood while everyone is full
        # costs one statement, not one lock each). Loads only fall as time passes, so this can only make
        # an operator look fuller than it is for a moment: never a passed limit, and the drain routes what
        # was left waiting.
        "loads": (
            "SELECT w.{w_operator}, {capped_load} FROM {weight} w JOIN {operator} o ON o.id = w.{w_operator} "
            "WHERE w.{w_source} = %s"
        ).format(**n),
        "latest_operator": (
            "SELECT {c_operator} FROM {contact} WHERE {c_lead} = %s AND {c_operator} IS NOT NULL "
            "ORDER BY {c_assigned} DESC LIMIT 1"
        ).format(**n),
        "insert_contact": "INSERT INTO {contact} ({contact_columns}) VALUES ({contact_values}) RETURNING id".format(
            **n
        ),
    }


def _db() -> BaseDatabaseWrapper:
    """The default database's wrapper. The `connection` proxy looks it up again (through a context-local)
    at every attribute; the hot path would ask it some thirty times per contact, so it asks here once."""
    return connections[DEFAULT_DB_ALIAS]


def _at(moment: datetime) -> object:
    return _db().ops.adapt_datetimefield_value(moment)


def authenticate(digest: str, *, now: datetime) -> Statement:
    return _named("authenticate", (digest, _at(now)))


def source_operators(source_id: int) -> Statement:
    return _named("source_operators", (source_id,))


def upsert_lead(*, external_id: str, name: str, now: datetime) -> Statement:
    at = _at(now)
    return _named("upsert_lead", (external_id, name, at, at))


def lock_operator(operator_id: int) -> Statement:
    return _named("lock_operator", (operator_id,))


def weight_and_load(*, source_id: int, operator_id: int, since: datetime) -> Statement:
    return _named("weight_and_load", (source_id, operator_id, operator_id, _at(since), operator_id))


def loads(*, source_id: int, since: datetime) -> Statement:
    return _named("loads", (_at(since), source_id))


def latest_operator(lead_id: int) -> Statement:
    return _named("latest_operator", (lead_id,))


def begin() -> Statement:
    return Statement("BEGIN")


def index_only() -> list[Statement]:
    """What a transaction of these statements sends first: on PostgreSQL, plan no sequential scans.

    Every statement here reads by index, and must: a contact's cost may not grow with the table. But a
    prepared statement's generic plan is made once, from the table's size at that moment, and kept for the
    connection's life: made while the contacts were a few pages (a fresh database), the load's count would
    stay a scan of them all as they grow. SET LOCAL ends with the transaction (a pooler is no matter).
    """
    return [Statement("SET LOCAL enable_seqscan = off")] if _db().vendor == "postgresql" else []


def commit() -> Statement:
    return Statement("COMMIT")


def savepoint(name: str) -> Statement:
    return Statement(f"SAVEPOINT {name}")


def rollback_to(name: str) -> Statement:
    return Statement(f"ROLLBACK TO SAVEPOINT {name}")


def insert_contact(contact: Contact) -> Statement:
    """The INSERT of a new contact, each value prepared by its model field as the ORM would."""
    db = _db()
    return _named(
        "insert_contact", tuple(_prepared(f, getattr(contact, f.attname), db) for f in _contact_fields())
    )


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


def batching(db: BaseDatabaseWrapper | None = None) -> bool:
    """Whether several statements may travel in one round trip.

    Django's psycopg 3 cursors bind parameters on the client by default, so one execute may carry several
    statements. With `OPTIONS={"server_side_binding": True}` the server prepares each execute, and a
    prepared statement cannot hold several commands: then each statement goes on its own (same result,
    more round trips). SQLite's driver runs one statement per execute.
    """
    db = db or _db()
    return db.vendor == "postgresql" and not db.settings_dict["OPTIONS"].get("server_side_binding")


def preparing(db: BaseDatabaseWrapper | None = None) -> bool:
    """Whether the statements of _sql() run as EXECUTE of copies each connection prepares once.

    Not behind a pooler in transaction mode: the next transaction may run on another server connection,
    one without them (PgBouncer 1.18 cannot carry prepared statements at all). Not with server-side binding:
    EXECUTE takes no bound parameters (and psycopg can prepare statements itself then). Not once such a
    pooler has been met although DATABASE_POOLER did not say so (`fell_back_to_text`).
    """
    return batching(db) and getattr(settings, "DATABASE_POOLER", "none") != "transaction" and not _text_only


# Set when the database answered as a pooler in transaction mode does to prepared statements while
# DATABASE_POOLER did not say there is one: from then on this process sends its statements as text.
_text_only = False


def is_prepared_statement_error(exc: BaseException) -> bool:
    """Whether the error is a pooler's mix-up of prepared statements (see PREPARED_STATEMENT_ERRORS)."""
    return getattr(exc.__cause__, "sqlstate", None) in PREPARED_STATEMENT_ERRORS


def _fall_back_to_text(exc: ProgrammingError) -> None:
    """A forgotten DATABASE_POOLER may cost speed, never a contact: on the first prepared-statement error
    switch this process to statements sent as text and say once which setting is missing. The caller
    re-raises; the whole transaction then runs again (batching.retrying), as text."""
    global _text_only
    if _text_only or not is_prepared_statement_error(exc):
        return
    _text_only = True
    log.warning(
        "The database answered %r: a pooler in transaction mode (PgBouncer) is between the app and "
        "PostgreSQL, but DATABASE_POOLER is not set to transaction. Statements now go as text, which is "
        "slower; set DATABASE_POOLER=transaction and DISABLE_SERVER_SIDE_CURSORS=true (docs/scale-out.md).",
        str(exc).strip(),
    )


def fell_back_to_text() -> bool:
    return _text_only


# The database connections (psycopg's) known to hold the prepared copies. A new connection (after a restart,
# or CONN_MAX_AGE) starts without them; a closed one drops out by itself.
_prepared_on: weakref.WeakSet = weakref.WeakSet()


def _prepare(cursor) -> None:
    """Prepare on this connection whichever statements it does not hold yet (once per connection).

    It asks the server what it holds rather than trusting a flag alone: a PREPARE outlives the rollback of
    its transaction, so a batch that failed may have left some behind, and preparing one twice is an error.
    """
    if cursor.db.connection in _prepared_on:
        return
    cursor.execute("SELECT name FROM pg_prepared_statements")
    held = {name for (name,) in cursor.fetchall()}
    missing = [
        f"PREPARE {PREPARED_PREFIX}{name} AS {_numbered(text)}"
        for name, text in _sql().items()
        if PREPARED_PREFIX + name not in held
    ]
    if missing:
        cursor.execute("; ".join(missing))
    _prepared_on.add(cursor.db.connection)


def _numbered(text: str) -> str:
    """%s placeholders as PREPARE's $1, $2, ... in order."""
    numbers = iter(range(1, text.count("%s") + 1))
    return re.sub("%s", lambda _: f"${next(numbers)}", text)


def _texts(cursor, statements: Sequence[Statement]) -> list[str]:
    """What to send for each statement: EXECUTE of its prepared copy where there is one, else its SQL."""
    if not preparing(cursor.db) or not any(s.name for s in statements):
        return [s.sql for s in statements]
    _prepare(cursor)
    return [
        f"EXECUTE {PREPARED_PREFIX}{s.name}({', '.join(['%s'] * len(s.params))})" if s.name else s.sql
        for s in statements
    ]


def run_together(statements: Sequence[Statement], *, opening: bool = False) -> list[list[tuple]]:
    """Run the statements in order in the current transaction; return each one's rows.

    `opening`: they begin the transaction (BEGIN first), so they may stand in for the health check as
    `fetch_first`'s read does: a broken connection is replaced and they are sent again.
    """
    if opening:
        return _instead_of_the_health_check(lambda: _run_together(statements))
    return _run_together(statements)


def _run_together(statements: Sequence[Statement]) -> list[list[tuple]]:
    try:
        return _run_together_once(statements)
    except ProgrammingError as exc:
        _fall_back_to_text(exc)
        raise


def _run_together_once(statements: Sequence[Statement]) -> list[list[tuple]]:
    db = _db()
    with db.cursor() as cursor:
        if not batching(db):
            results = []
            for statement in statements:
                cursor.execute(statement.sql, statement.params)
                results.append(cursor.fetchall() if cursor.description else [])
            return results
        cursor.execute("; ".join(_texts(cursor, statements)), [p for s in statements for p in s.params])
        # The results are in: read them from psycopg's own cursor, without Django's wrapping of each call.
        raw, results = cursor.cursor, []
        with db.wrap_database_errors:
            for _ in statements:
                results.append(raw.fetchall() if raw.pgresult.nfields else [])
                raw.nextset()
        return results


def roll_back() -> None:
    """End whatever transaction the connection is in (one begun by a BEGIN statement too); a connection
    that cannot even do that is closed, and the next query opens a new one."""
    db = _db()
    try:
        db.rollback()
    except DatabaseError:
        db.close()


def fetch_all(statement: Statement) -> list[tuple]:
    try:
        with _db().cursor() as cursor:
            (text,) = _texts(cursor, [statement])
            cursor.execute(text, statement.params)
            return cursor.fetchall()
    except ProgrammingError as exc:
        _fall_back_to_text(exc)
        raise


def fetch_first(statement: Statement) -> list[tuple]:
    """fetch_all for a read that opens a request, in place of Django's health check.

    On PostgreSQL outside any transaction it runs in one of its own, still one round trip, so that it too
    plans without sequential scans (index_only): a generic plan made while a table was a few pages would
    otherwise stay a scan of it as it grows."""
    db = _db()
    if batching(db) and not db.in_atomic_block and db.get_autocommit():
        return run_together([begin(), *index_only(), statement, commit()], opening=True)[-2]
    return _instead_of_the_health_check(lambda: fetch_all(statement))


def _instead_of_the_health_check(run: Callable[[], T]) -> T:
    """Run the request's first statements without Django's health check before them.

    With CONN_HEALTH_CHECKS Django sends `SELECT 1` before the first query of every request on a reused
    connection: a round trip of its own. Here the statements go at once, and a connection they find broken
    (the database or the pooler restarted since it was opened) is replaced and they are sent again: they
    are a read, or begin a transaction, so nothing of theirs can have outlived the broken connection.
    Outside an atomic block only.
    """
    db = _db()
    db.health_check_done = True  # see django.db.backends.base.base: the check this replaces
    try:
        return run()
    except ProgrammingError as exc:
        if db.in_atomic_block or not is_prepared_statement_error(exc):
            raise
        roll_back()  # a pooler mixed up prepared statements: run them again, as text now
        return run()
    except (OperationalError, InterfaceError):
        if db.in_atomic_block:
            raise
        roll_back()  # a working connection only leaves the transaction the statements began
        if db.connection is not None:
            raise
        return run()
