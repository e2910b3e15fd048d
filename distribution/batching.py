"""Round trips: the statements of one contact's transaction travel together, and a transaction that
PostgreSQL rolled back whole runs again.

A Trip holds statements whose answers are not needed yet; they ride along with the next round trip. A new
contact takes two round trips on PostgreSQL: BEGIN with the token check, the lead's upsert, a savepoint,
the lock and the load; then the INSERT with COMMIT (`one_transaction`).
"""

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from django.db import OperationalError, ProgrammingError, connection, transaction

from distribution import db, sql
from distribution.routes import Route, RouteChanged

log = logging.getLogger("leadflow.distribution")

# PostgreSQL's codes for a deadlock and a serialization failure: the transaction was rolled back whole
# and may simply run again.
RETRYABLE_SQLSTATES = {"40P01", "40001"}
RETRIES = 3
T = TypeVar("T")


@dataclass
class Trip:
    """Statements whose answers are not needed yet wait here and ride along with the next round trip.

    The first carries the transaction's planning rules (sql.index_only)."""

    lead: sql.Statement | None = None  # the lead's upsert, until sent
    waiting: list[sql.Statement] = field(default_factory=sql.index_only)
    lead_id: int | None = None
    commits: bool = False  # the transaction is ours to end: COMMIT rides along with the last statements
    opens: bool = False  # the next round trip begins the transaction (so it may be sent again, see sql)
    confirm: Route | None = None  # a route assumed: its token check rides along with the first round trip
    now: datetime | None = None

    def send(self, statements: Sequence[sql.Statement], *, last: bool = False) -> list[list[tuple]]:
        """Run the waiting statements and these (and COMMIT, if `last` and ours); return these' rows.

        Raises RouteChanged (before anything else is read) when a token check sent along disagrees.
        """
        check = [self.confirm.check(self.now)] if self.confirm else []
        head = [self.lead] if self.lead else []
        tail = [sql.commit()] if last and self.commits else []
        # Never with COMMIT: a contact must not be committed before the route it was decided on is confirmed.
        assert not (check and tail), "the token check must be sent before the last round trip"
        sent = [*self.waiting, *check, *head, *statements, *tail]
        results = db.run_together(sent, opening=self.opens)
        at, self.opens = len(self.waiting), False
        if check:
            assumed, self.confirm = self.confirm, None
            if not assumed.confirmed_by(results[at]):
                raise RouteChanged
            at += 1
        if head:
            self.lead_id, self.lead = results[at][0][0], None
        self.waiting, self.commits = [], self.commits and not tail
        start = len(sent) - len(statements) - len(tail)
        return results[start : start + len(statements)]

    def flush(self) -> None:
        """Send whatever still waits (the lead's upsert, a token check) without ending the transaction."""
        if self.lead or self.confirm:
            self.send([])


@contextmanager
def one_transaction() -> Iterator[Trip]:
    """The transaction of one new contact, with the Trip that carries its statements.

    transaction.atomic() costs two round trips of its own on PostgreSQL: psycopg sends BEGIN before the
    first statement and COMMIT at the end, each alone. Outside any atomic block (a request, not a test
    or an outer transaction) BEGIN rides along with the first statements and COMMIT with the last; on
    any error the transaction is rolled back before the error goes on. Elsewhere (SQLite, an outer
    atomic block, server-side binding) it is transaction.atomic().
    """
    if not db.batching() or connection.in_atomic_block or not connection.get_autocommit():
        with transaction.atomic():
            yield Trip()
        return
    trip = Trip(waiting=[sql.begin(), *sql.index_only()], commits=True, opens=True)
    try:
        yield trip
        if trip.commits:  # nothing carried the COMMIT
            trip.send([], last=True)
    except BaseException:
        db.roll_back()
        raise


def retrying(work: Callable[[], T]) -> T:
    """Run `work` (one whole transaction) again when PostgreSQL rolled it back for a deadlock or a
    serialization failure; a bounded number of times, with a short random pause. Also once more after a
    pooler mixed up prepared statements: the statements go as text from then on (db.fell_back_to_text)."""
    for attempt in range(RETRIES + 1):
        try:
            return work()
        except ProgrammingError as exc:
            if not (db.is_prepared_statement_error(exc) and db.fell_back_to_text()) or attempt == RETRIES:
                raise
        except OperationalError as exc:
            state = getattr(exc.__cause__, "sqlstate", None)
            if state not in RETRYABLE_SQLSTATES or attempt == RETRIES:
                raise
            log.warning("retrying after %s (attempt %d)", state, attempt + 1)
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    raise AssertionError("unreachable")
