"""Running distribution.sql's statements: several in one round trip, prepared once per connection, with a
transaction's first statements standing in for Django's health check, and a pooler's mix-up of prepared
statements survived.

On PostgreSQL each connection prepares the named statements once and then sends `EXECUTE name(values)`:
PostgreSQL plans a statement sent as text anew every time, and for the intake's statements planning cost
more than running them (docs/performance.md). They run with sequential scans turned off (sql.index_only).
"""

import contextlib
import logging
import re
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, ProgrammingError
from django.db.backends.base.base import BaseDatabaseWrapper

from distribution import sql
from distribution.sql import Statement

T = TypeVar("T")
PREPARED_PREFIX = "leadflow_"
log = logging.getLogger("leadflow.distribution")

# "prepared statement ... does not exist" and "... already exists": what a pooler in transaction mode
# answers when statements prepared in one PostgreSQL session are run in another.
PREPARED_STATEMENT_ERRORS = frozenset({"26000", "42P05"})


def batching(db: BaseDatabaseWrapper | None = None) -> bool:
    """Whether several statements may travel in one round trip.

    Django's psycopg 3 cursors bind parameters on the client by default, so one execute may carry several
    statements. With `OPTIONS={"server_side_binding": True}` the server prepares each execute, and a
    prepared statement cannot hold several commands: then each statement goes on its own (same result,
    more round trips). SQLite's driver runs one statement per execute.
    """
    db = db or sql.default_db()
    return db.vendor == "postgresql" and not db.settings_dict["OPTIONS"].get("server_side_binding")


def preparing(db: BaseDatabaseWrapper | None = None) -> bool:
    """Whether the statements of sql.named() run as EXECUTE of copies each connection prepares once.

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
        f"PREPARE {PREPARED_PREFIX}{name} AS {numbered(text)}"
        for name, text in sql.named().items()
        if PREPARED_PREFIX + name not in held
    ]
    if missing:
        cursor.execute("; ".join(missing))
    _prepared_on.add(cursor.db.connection)


def numbered(text: str) -> str:
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


@contextlib.contextmanager
def _cursor(db: BaseDatabaseWrapper) -> Iterator:
    """A cursor of the connection, kept open between round trips: for each `db.cursor()` Django builds a
    wrapper and psycopg a cursor, and closes both after, some 20 µs of Python a round trip (two a contact).
    Every execute still goes through Django's wrapper (its checks of a broken transaction, its error
    translation). A new connection (a restart, CONN_MAX_AGE) gets a new one; while queries are logged
    (DEBUG, CaptureQueriesContext) the logging cursor Django gives then is used instead, once. PostgreSQL
    only: SQLite's statements go one by one anyway, and its speed is not what a production intake meets."""
    if db.queries_logged or db.vendor != "postgresql":
        with db.cursor() as cursor:
            yield cursor
        return
    # What db.cursor() does first: a reused connection's first query of a request runs Django's health check,
    # unless _instead_of_the_health_check stands in for it (the intake's reads do; the worker's route read
    # does not), and a closed connection is opened again.
    db.close_if_health_check_failed()
    db.ensure_connection()
    kept = getattr(db, "_leadflow_cursor", None)
    if kept is None or kept.cursor.connection is not db.connection:
        kept = db._leadflow_cursor = db.cursor()
    yield kept


def _run_together_once(statements: Sequence[Statement]) -> list[list[tuple]]:
    db = sql.default_db()
    with _cursor(db) as cursor:
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
    db = sql.default_db()
    try:
        db.rollback()
    except DatabaseError:
        db.close()


def fetch_all(statement: Statement) -> list[tuple]:
    try:
        with _cursor(sql.default_db()) as cursor:
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
    db = sql.default_db()
    if batching(db) and not db.in_atomic_block and db.get_autocommit():
        return run_together([sql.begin(), *sql.index_only(), statement, sql.commit()], opening=True)[-2]
    return _instead_of_the_health_check(lambda: fetch_all(statement))


def _instead_of_the_health_check(run: Callable[[], T]) -> T:
    """Run the request's first statements without Django's health check before them.

    With CONN_HEALTH_CHECKS Django sends `SELECT 1` before the first query of every request on a reused
    connection: a round trip of its own. Here the statements go at once, and a connection they find broken
    (the database or the pooler restarted since it was opened) is replaced and they are sent again: they
    are a read, or begin a transaction, so nothing of theirs can have outlived the broken connection.
    Outside an atomic block only.
    """
    db = sql.default_db()
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
