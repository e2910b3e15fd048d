"""python manage.py bench_intake: intake throughput against a one-insert floor, on the configured database.

One run: prepare the bench source (and optionally a year of history), start gunicorn with the production
config on 127.0.0.1, drive POST /api/contacts/ and then POST /bench/floor/ for the same time with the
same client, stop gunicorn, and report requests/s, latency percentiles, errors, intake/floor, the
operators' shares against their weights, and (with --pages) the staff pages' server times.
"""

import json
import os
import random
import secrets
import signal
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from bench import history as bench_history
from bench import load, report, server
from bench import pages as bench_pages
from bench.load import LoadResult
from crm.models import Lead

INTAKE_PATH = "/api/contacts/"
FLOOR_PATH = "/bench/floor/"

Drive = Callable[..., LoadResult]


class Command(BaseCommand):
    help = (
        "Benchmark the webhook intake against a one-insert floor on this database, through gunicorn with the "
        "production config on 127.0.0.1. Give it a database of its own: it adds a bench source, operators "
        "and history, and removes what its earlier runs posted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        arg = parser.add_argument
        arg("--history", type=int, default=0, help="Historical contacts to have (topped up, never doubled).")
        arg("--leads", type=int, help="Size of the history's lead pool (default: 30%% of --history).")
        arg("--workers", type=int, default=4, help="gunicorn workers (default 4).")
        arg("--connections", type=int, default=16, help="Concurrent connections (default 16).")
        arg("--duration", type=float, default=20, help="Seconds per measurement (default 20).")
        arg("--warmup", type=float, default=3, help="Unmeasured seconds before each measurement (default 3).")
        arg("--client", choices=["auto", "wrk", "python"], default="auto", help="wrk if installed (auto).")
        arg("--threads", type=int, help="wrk threads (default: the number of cores).")
        arg("--fresh-connections", action="store_true", help="Python client: a new connection per request.")
        arg("--pages", action="store_true", help="Also time the staff pages and admin changelists.")
        arg("--json", type=Path, help="Write every figure to this file.")
        arg("--port", type=int, default=0, help="gunicorn's port on 127.0.0.1 (default: a free one).")
        arg("--seed", type=int, help="Seed for the generated history.")

    def handle(self, *args, **opts) -> None:
        if opts["history"] < 0 or opts["workers"] < 1 or opts["connections"] < 1 or opts["duration"] <= 0:
            raise CommandError("--history must be >= 0, --workers and --connections >= 1, --duration > 0.")
        client = self._client(opts["client"], fresh=opts["fresh_connections"])
        self._check_migrated()
        # The in-process requests (query counts, --pages) build the middleware here, and whitenoise warns
        # when collectstatic never ran; static files play no part in what is measured.
        warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
        # A SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so gunicorn is stopped on the way out.
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            figures = self._run(**{**opts, "client": client})
        except KeyboardInterrupt:
            raise CommandError("Interrupted; gunicorn was stopped.") from None
        finally:
            signal.signal(signal.SIGTERM, previous)
        for line in report.render(figures):
            self.stdout.write(line)
        if opts["json"]:
            opts["json"].parent.mkdir(parents=True, exist_ok=True)
            opts["json"].write_text(json.dumps(figures, indent=2) + "\n")
            self.stdout.write(f"Figures written to {opts['json']}")

    def _run(
        self,
        *,
        client: str,
        history: int,
        leads: int | None,
        workers: int,
        connections: int,
        duration: float,
        warmup: float,
        threads: int | None,
        fresh_connections: bool,
        pages: bool,
        port: int,
        seed: int | None,
        **_,
    ) -> dict:
        run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(2)}"
        setup = self._prepare(history=history, leads=leads, seed=seed)
        threads = threads or os.cpu_count() or 1
        figures: dict = {
            "run": run_id,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": report.machine(),
            "history": bench_history.history_size(setup=setup),
            "leads": Lead.objects.count(),
            "workers": workers,
            "connections": connections,
            "duration_s": duration,
            "warmup_s": warmup,
            "client": client + (" (fresh connections)" if fresh_connections else ""),
            "wrk_threads": min(threads, connections) if client == "wrk" else None,
            # Sampled before gunicorn starts: well above 0 means other work is sharing the machine.
            "cpu_busy_before_start": report.cpu_busy(),
        }

        def drive(*, url: str, prefix: str, seconds: float) -> LoadResult:
            common = {"url": url, "token": setup.source.token, "prefix": prefix, "connections": connections}
            if client == "wrk":
                return load.run_wrk(**common, duration=seconds, threads=threads)
            return load.run_python(**common, duration=seconds, fresh_connections=fresh_connections)

        log_path = settings.BASE_DIR / "artifacts" / "bench" / f"gunicorn-{run_id}.log"
        figures["gunicorn_log"] = str(log_path)
        self.stderr.write(f"Starting gunicorn ({workers} workers), log in {log_path}")
        connection.close()  # hold nothing open on the database while gunicorn works
        with server.gunicorn(workers=workers, log_path=log_path, port=port) as srv:
            measure = {"srv": srv, "drive": drive, "duration": duration, "warmup": warmup}
            intake, mark = self._measure(path=INTAKE_PATH, prefix=f"bench-{run_id}", **measure)
            floor, _ = self._measure(path=FLOOR_PATH, prefix=f"bench-floor-{run_id}", **measure)
        figures["intake"] = intake
        figures["floor"] = floor
        figures["ratio"] = round(intake["rps"] / floor["rps"], 3) if floor["rps"] else None
        figures["target_ratio"] = report.TARGET_RATIO
        shares = report.shares_since(setup=setup, after_id=mark, prefix=f"bench-{run_id}-")
        figures["shares"] = shares.as_dict()
        checked, over = report.operators_over_limit()
        figures["limits"] = {"operators_checked": checked, "over_limit": over}
        sql = report.queries_per_request(setup=setup, prefix=f"bench-inprocess-{run_id}")
        figures["queries_per_request"] = {
            "intake": len(sql["intake"]),
            "floor": len(sql["floor"]),
            "intake_sql": sql["intake"],
            "floor_sql": sql["floor"],
        }
        if pages:
            self.stderr.write("Timing pages in-process …")
            timings = bench_pages.time_pages(urls=bench_pages.page_urls(setup=setup))
            figures["pages"] = [timing.as_dict() for timing in timings]
        return figures

    def _prepare(self, *, history: int, leads: int | None, seed: int | None) -> bench_history.BenchSetup:
        """The bench source, earlier runs removed, history topped up, statistics fresh."""
        setup = bench_history.prepare_source()
        contacts, leads_removed = bench_history.remove_earlier_runs()
        if leads_removed:
            self.stderr.write(f"Removed {leads_removed:,} leads and {contacts:,} contacts of earlier runs.")
        started = time.monotonic()
        added = bench_history.load_history(
            setup=setup,
            contacts=history,
            leads=leads if leads is not None else max(1, history * 3 // 10),
            rng=random.Random(seed),
            stream=sys.stderr,
        )
        if added:
            self.stderr.write(f"Loaded {added:,} history contacts in {time.monotonic() - started:.1f} s.")
        bench_history.refresh_statistics()
        return setup

    def _measure(
        self, *, srv: server.Server, path: str, prefix: str, drive: Drive, duration: float, warmup: float
    ) -> tuple[dict, int]:
        """Warm up (workers' connections open, code paths hot), then measure. Returns the figures and the
        last contact id before the measured part, so that only measured contacts count in the shares."""
        url = srv.base_url + path
        if warmup > 0:
            self.stderr.write(f"{path}: {warmup:g} s warm-up …")
            # Its own prefix (see history.RUN_LEAD_PREFIX): warm-up contacts must not count as the run's.
            drive(url=url, prefix=prefix.replace("bench-", "bench-warmup-", 1), seconds=warmup)
        mark = report.last_contact_id()
        connection.close()
        offset = server.log_size(srv.log_path)
        self.stderr.write(f"{path}: {duration:g} s measured …")
        result = drive(url=url, prefix=prefix, seconds=duration)
        time.sleep(0.5)  # gunicorn writes the access-log line after the answer: let the last ones land
        return {**result.as_dict(), "log": server.scan_log(srv.log_path, since=offset).as_dict()}, mark

    def _client(self, choice: str, *, fresh: bool) -> str:
        if choice == "wrk" and fresh:
            raise CommandError("wrk keeps connections alive; use --client python with --fresh-connections.")
        if choice == "wrk" and not load.wrk_available():
            raise CommandError("wrk is not installed; use --client python.")
        if choice == "auto":
            return "wrk" if load.wrk_available() and not fresh else "python"
        return choice

    def _check_migrated(self) -> None:
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("The database has unapplied migrations: run `python manage.py migrate` first.")


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
