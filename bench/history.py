"""The benchmark's data: one source with ten weighted operators, and optionally a year of history.

History is loaded in bulk, straight into the tables (PostgreSQL: COPY FROM STDIN through psycopg 3;
SQLite: bulk_create in batches), never through the distribution service: it only has to look like what
the service leaves behind, and a million service calls would take longer than the benchmark itself.

Everything here is safe to run again: the source and operators are found by name, and the history is
topped up to the requested size, never doubled.
"""

import itertools
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TextIO

from django.db import connection, transaction
from django.utils import timezone

from crm.models import Contact, Lead, Operator, OperatorHour, Source, SourceOperatorWeight, UnassignedReason

SOURCE_NAME = "Benchmark"
WEIGHTS = tuple(range(1, 11))  # ten operators, weights 1..10, so operator w should get w/55 of the contacts
# Large enough never to bind during a run, and within PositiveIntegerField's range on every database.
LOAD_LIMIT = 1_000_000_000
HISTORY_SPAN = timedelta(days=365)
UNASSIGNED_SHARE = 0.02
# External ids: the history's lead pool, and what runs post (intake `bench-<run>-…`, floor
# `bench-floor-<run>-…`). Earlier runs' leads are recognised by the shared prefix and removed.
HISTORY_LEAD_PREFIX = "bench-hist-"
RUN_LEAD_PREFIX = "bench-"
# Rows per transaction: a Ctrl-C keeps what was loaded so far, and the next run tops up from there.
CHUNK = 50_000


@dataclass(frozen=True)
class BenchSetup:
    source: Source
    operators: tuple[Operator, ...]  # in weight order, weights 1..10
    weights: dict[int, int]  # operator id -> weight

    @property
    def total_weight(self) -> int:
        return sum(self.weights.values())


def operator_name(weight: int) -> str:
    return f"Bench operator w{weight:02d}"


@transaction.atomic
def prepare_source(*, limit: int = LOAD_LIMIT) -> BenchSetup:
    """The bench source and its ten operators, created or reset to the benchmark's settings.

    Reset, not just found: an operator someone deactivated or limited in the admin of a bench database
    would silently skew the shares.
    """
    source, _ = Source.objects.get_or_create(name=SOURCE_NAME)
    operators = []
    for weight in WEIGHTS:
        operator, _ = Operator.objects.update_or_create(
            name=operator_name(weight), defaults={"load_limit": limit, "is_active": True}
        )
        SourceOperatorWeight.objects.update_or_create(
            source=source, operator=operator, defaults={"weight": weight}
        )
        operators.append(operator)
    # Weights of operators that are not the bench's own (added by hand) would change the expected shares.
    SourceOperatorWeight.objects.filter(source=source).exclude(operator__in=operators).delete()
    return BenchSetup(
        source=source, operators=tuple(operators), weights={op.pk: w for op, w in zip(operators, WEIGHTS)}
    )


def remove_earlier_runs() -> tuple[int, int]:
    """Delete the leads (and their contacts) that earlier benchmark runs posted; return (contacts, leads).

    Every run should start from the same state, the history and nothing else: contacts left by an earlier
    run would sit in the operators' load window and make each later run count a longer index range.
    """
    run_leads = Lead.objects.filter(external_id__startswith=RUN_LEAD_PREFIX).exclude(
        external_id__startswith=HISTORY_LEAD_PREFIX
    )
    contacts, _ = Contact.objects.filter(lead__in=run_leads).delete()
    leads, _ = run_leads.delete()
    return contacts, leads


def history_size(*, setup: BenchSetup) -> int:
    """Contacts of the bench source (after remove_earlier_runs these are all history)."""
    return Contact.objects.filter(source=setup.source).count()


def load_history(
    *,
    setup: BenchSetup,
    contacts: int,
    leads: int,
    rng: random.Random,
    now: datetime | None = None,
    stream: TextIO | None = None,
) -> int:
    """Top the bench source's history up to `contacts` contacts; return how many were added.

    New contacts are spread uniformly over the year before `now`, in time order (so ids grow with
    created_at, as they do in production), across the bench operators by weight and a pool of `leads`
    leads (created as needed). UNASSIGNED_SHARE of them have no operator and reason all_at_limit, as the
    service would store them; every one carries an empty explanation and message.
    """
    missing = contacts - history_size(setup=setup)
    if missing <= 0:
        return 0
    now = now or timezone.now()
    lead_ids = _lead_pool(size=max(1, leads), now=now, stream=stream)
    operator_ids = [op.pk for op in setup.operators]
    cum_weights = list(itertools.accumulate(setup.weights[pk] for pk in operator_ids))
    # One sorted list of moments for the whole top-up (~32 MB for a million) keeps ids in time order.
    moments = sorted(rng.random() for _ in range(missing))
    start = now - HISTORY_SPAN

    def rows() -> Iterator[dict]:
        for first in range(0, missing, CHUNK):
            count = min(CHUNK, missing - first)
            picked_operators = rng.choices(operator_ids, cum_weights=cum_weights, k=count)
            picked_leads = rng.choices(lead_ids, k=count)
            for i in range(count):
                unassigned = rng.random() < UNASSIGNED_SHARE
                yield {
                    "lead_id": picked_leads[i],
                    "source_id": setup.source.pk,
                    "operator_id": None if unassigned else picked_operators[i],
                    # The database requires a reason exactly when there is no operator.
                    "unassigned_reason": UnassignedReason.ALL_AT_LIMIT.value if unassigned else "",
                    "created_at": start + HISTORY_SPAN * moments[first + i],
                    "message": "",
                    "explanation": "{}",  # JSON text for COPY; _bulk_create_chunk swaps in the dict
                    "idempotency_key": "",
                    "request_hash": "",
                }

    _write(Contact, rows(), total=missing, stream=stream, label="contacts")
    return missing


def refresh_statistics() -> None:
    """Make the planner's statistics match the loaded data; must run outside a transaction.

    PostgreSQL gets VACUUM (ANALYZE), not just ANALYZE: rows loaded by COPY are not yet marked all-visible,
    so counts over an index would still visit the table, and autovacuum would do the same work at a
    moment of its own choosing, maybe in the middle of a measurement.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # crm_operatorhour too: its few rows take an update per assignment, so old row versions pile
            # up fast wherever autovacuum is off (as on the benchmark machine) or behind.
            tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in (Lead, Contact, OperatorHour))
            cursor.execute(f"VACUUM (ANALYZE) {tables}")
        else:
            cursor.execute("ANALYZE")


def _lead_pool(*, size: int, now: datetime, stream: TextIO | None) -> list[int]:
    """Ids of the history's leads, creating the missing ones (bench-hist-0000000 …) first."""
    pool = Lead.objects.filter(external_id__startswith=HISTORY_LEAD_PREFIX)
    existing = pool.count()
    if existing < size:
        start = now - HISTORY_SPAN
        step = HISTORY_SPAN / size
        _write(
            Lead,
            (
                {
                    "external_id": f"{HISTORY_LEAD_PREFIX}{i:07d}",
                    "name": f"Customer {i}",
                    "created_at": start + step * i,
                    "updated_at": start + step * i,
                }
                for i in range(existing, size)
            ),
            total=size - existing,
            stream=stream,
            label="leads   ",
        )
    return list(pool.order_by().values_list("id", flat=True)[:size])


def _write(model, rows: Iterator[dict], *, total: int, stream: TextIO | None, label: str) -> None:
    """Insert dict rows (keys are field attnames) in transactions of CHUNK rows, with a progress bar."""
    bar = ProgressBar(total=total, label=label, stream=stream) if stream else None
    written = 0
    while written < total:
        chunk = list(itertools.islice(rows, min(CHUNK, total - written)))
        with transaction.atomic():
            if connection.vendor == "postgresql":
                _copy_chunk(model, chunk, bar)
            else:
                _bulk_create_chunk(model, chunk, bar)
        written += len(chunk)
    if bar:
        bar.finish()


def _copy_chunk(model, chunk: list[dict], bar: "ProgressBar | None") -> None:
    # COPY in text format: the fastest way in; psycopg's write_row does the quoting and escaping.
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(model._meta.get_field(name).column) for name in chunk[0])
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for first in range(0, len(chunk), 5_000):
            for row in chunk[first : first + 5_000]:
                copy.write_row(tuple(row.values()))
            if bar:
                bar(min(5_000, len(chunk) - first))


def _bulk_create_chunk(model, chunk: list[dict], bar: "ProgressBar | None") -> None:
    # JSONField wants the Python value here, not the JSON text COPY is given.
    objs = [model(**{**row, "explanation": {}} if "explanation" in row else row) for row in chunk]
    model.objects.bulk_create(objs)
    if bar:
        bar(len(chunk))


class ProgressBar:
    """`label [#####-----]  42% 420,000/1,000,000  12.3 s` on one line, redrawn at most 5 times a second."""

    def __init__(self, *, total: int, label: str, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.total, self.label, self.stream, self.width = total, label, stream, width
        self.done = 0
        self.started = self._drawn = time.monotonic()

    def __call__(self, n: int) -> None:
        self.done += n
        if time.monotonic() - self._drawn >= 0.2 or self.done >= self.total:
            self._draw()

    def finish(self) -> None:
        self._draw()
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self) -> None:
        self._drawn = time.monotonic()
        filled = self.width * self.done // self.total if self.total else self.width
        percent = 100 * self.done // self.total if self.total else 100
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'-' * (self.width - filled)}] {percent:3d}% "
            f"{self.done:,}/{self.total:,}  {self._drawn - self.started:.1f} s"
        )
        self.stream.flush()

