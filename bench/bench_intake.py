"""Intake benchmark: POST /api/contacts/ through gunicorn, as a ratio to a minimal Django floor.

    python bench/bench_intake.py [--scenario free flood] [--sources 2 300] [--schedules off on] [--history N]
                                 [--offers off on] [--subscribed off on] [--strategy weighted round_robin]
                                 [--skills off on] [--pages] [--runs 3]

It drops and re-creates the database (its name must contain "bench"; SQLite: deletes the file), migrates
it, serves the floor project (bench/floor/) and the app side by side with the repository's gunicorn.conf.py
on 127.0.0.1, drives them in turns with wrk (bench/intake.lua: a new external_id per request, the sources'
tokens in turn) and prints each case's requests/s and its ratio to the floor measured in the same turns.

Scenarios: `free` (operators' limits never bind) and `flood` (every operator is full: each contact is
stored unassigned, all_at_limit). `--sources N`: N sources with 20 operators each, the traffic spread over
their tokens; several values are measured in rising order, adding sources as it goes. `--schedules off on`:
each case also with every operator on a weekly schedule and an exception (on shift now), which the intake
must read without another round trip. `--strategy`: the sources' routing strategy. `--skills off on`: each
case also with two skills on every operator, one required by every source and another asked for by every
contact in the webhook body (the floor's body carries the same field). `--runs 3`: every case three times
(all cases once before any again), then each case's median and spread: the figures we report.

The header names the machine (cores, processor, clock), the load average before the run and a warning if
PostgreSQL preloads a library (pg_stat_statements slows every statement); after the cases, how busy the
machine was and how much of it the host's other tenants took (stolen).
"""

import argparse
import contextlib
import itertools
import json
import logging
import os
import platform
import random
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path

import environ

REPO = Path(__file__).resolve().parent.parent
LUA = REPO / "bench" / "intake.lua"
PORTS = range(8100, 8200)
OPERATORS_PER_SOURCE = 20
FREE_LIMIT = 1_000_000_000  # never binds during a run
FLOOD_LIMIT = 10  # each operator gets this many contacts in the window before a flood, so all are full
PAGES = [
    "/",
    "/?op_page=60",  # the dashboard's operators are paged: the last page at 300 sources of 20
    "/?op_q=Bench+1.",  # a search over the operators' names
    "/?op_source={source}",  # one source's operators
    "/queue/",
    "/reports/",  # the last 7 days
    "/reports/?from={month_ago}&to={today}",  # 30 days
    "/reports/contacts.csv?from={today}&to={today}",  # streamed: the time to its first bytes
    "/leads/",
    "/leads/?q=history-1",  # a third of all leads match
    "/leads/?waiting=1",
    "/leads/{lead}/",
    "/contacts/",
    "/contacts/?unassigned=1",
    "/contacts/?source={source}",  # every contact, when there is one source
    "/admin/crm/contact/",
    "/admin/crm/contact/?q={external_id}",
    "/admin/crm/lead/",
    "/admin/crm/lead/?q=history-1",
    "/admin/crm/operator/",
    "/admin/crm/source/",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arg = parser.add_argument
    arg("--scenario", nargs="+", choices=["free", "flood"], default=["free"])
    arg("--sources", nargs="+", type=int, default=[1], help="sources of 20 operators each (default 1)")
    arg(
        "--schedules",
        nargs="+",
        choices=["off", "on"],
        default=["off"],
        help="on: every operator works to a weekly schedule (two intervals a day, on shift now) with one "
        "exception; 'off on' measures both (default off)",
    )
    arg(
        "--offers",
        nargs="+",
        choices=["off", "on"],
        default=["off"],
        help="on: the sources make offers (accept within an hour: each contact also writes its offer); "
        "'off on' measures both (default off)",
    )
    arg(
        "--subscribed",
        nargs="+",
        choices=["off", "on"],
        default=["off"],
        help="on: one subscription to every event (each contact also writes its outbox event; no worker "
        "sends them during the run); 'off on' measures both (default off)",
    )
    arg(
        "--strategy",
        nargs="+",
        choices=["weighted", "round_robin", "least_loaded"],
        default=["weighted"],
        help="the sources' routing strategy; several: each measured (default weighted)",
    )
    arg(
        "--skills",
        nargs="+",
        choices=["off", "on"],
        default=["off"],
        help="on: every operator holds ru and en, every source requires en and every contact asks for ru "
        "(the body's skills); 'off on' measures both (default off)",
    )
    arg("--history", type=int, default=0, help="contacts over the past year, loaded before measuring")
    arg("--pages", action="store_true", help="then time the staff pages and admin lists in-process")
    arg(
        "--runs",
        type=int,
        default=1,
        help="measure every case this many times, all cases once before any again, and end with each "
        "case's median and spread (default 1; figures we report: 3)",
    )
    arg("--duration", type=int, default=20, help="measured seconds per case, and of its floor (default 20)")
    arg(
        "--slice", type=int, default=2, help="seconds per turn of the floor and the case in turns (default 2)"
    )
    arg("--warmup", type=int, default=2, help="unmeasured seconds before each measurement (default 2)")
    arg("--connections", type=int, default=16, help="wrk connections (default 16)")
    arg("--workers", type=int, default=4, help="gunicorn workers, floor and app alike (default 4)")
    arg("--database-url", default="postgres://postgres@127.0.0.1:5432/leadflow_bench", help="re-created!")
    arg("--via-url", help="the URL gunicorn connects by (e.g. PgBouncer's) if not --database-url")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        sys.exit("bench_intake needs wrk (apt-get install wrk); there is no fallback client.")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=args.database_url,
        DEBUG="false",
        HTTPS="false",  # plain HTTP on 127.0.0.1
        OUTBOUND_ALLOW_PRIVATE="true",  # --subscribed's receiver address
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",  # testserver: the in-process page timings
        # With DEBUG off the app refuses to start without a key; any key will do for a benchmark.
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
    )
    fresh_database(args.database_url)
    import django

    django.setup()
    from django.db import connection

    from distribution import routes

    # The cases' set-up goes through the app's services, which log what they do (a drain once skills are
    # switched off again, in the second of several runs): lines that would cut into the table.
    logging.getLogger("leadflow").setLevel(logging.WARNING)
    run = time.strftime("%H%M%S")
    print(f"Leadflow intake benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {machine()}; {database()}")
    print(f"command: python {shlex.join(sys.argv)}")
    print(f"gunicorn: {args.workers} workers; wrk: {args.connections} connections, {args.duration} s each")
    # A quiet machine is the benchmark's premise: the load before it starts says whether it was.
    print(f"load average before: {load_average()}")
    tokens: list[str] = []
    add_sources(min(args.sources), tokens)
    if args.history:
        started = time.monotonic()
        load_history(count=args.history, rng=random.Random())
        print(f"history: {args.history:,} contacts loaded in {time.monotonic() - started:.0f} s")
    refresh_statistics()
    connection.close()  # hold nothing open while gunicorn works

    env = {"DATABASE_URL": args.via_url or args.database_url}
    floor_env = {**env, "DJANGO_SETTINGS_MODULE": "bench.floor.settings"}
    print(
        f"{'':33} {'req/s':>9} {'floor':>9} {'/ floor':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}  stored"
    )
    with (
        serving("bench.floor.wsgi:application", "/api/contacts/", floor_env, args) as floor_url,
        serving("config.wsgi:application", "/healthz", env, args) as url,
    ):
        cases = list(
            itertools.product(
                sorted(set(args.sources)),
                args.scenario,
                args.schedules,
                args.offers,
                args.subscribed,
                args.strategy,
                args.skills,
            )
        )
        started = cpu_times()
        ratios: dict[str, list[float]] = {}
        # Run after run rather than case after case: the host's slow minutes then fall on every case alike.
        for turn, (sources, scenario, scheduled, offering, subscribed, strategy, skilled) in (
            (turn, case) for turn in range(args.runs) for case in cases
        ):
            add_sources(sources, tokens)
            set_scenario(scenario)
            set_schedules(scheduled == "on")
            set_offers(offering == "on")
            set_subscribed(subscribed == "on")
            set_strategy(strategy)
            set_skills(skilled == "on")
            # What a worker's pass does within seconds in production: the set-up's changes (a row for each
            # weight and skill link) compacted into one version, or every token check would read them all.
            routes.compact_changes()
            refresh_statistics()
            prefix = (
                f"{scenario}-{sources}-{scheduled}-{offering}-{subscribed}-{strategy}-{skilled}-{run}-{turn}"
            )
            floor, result, mark = measure(
                url, floor_url, prefix=prefix, tokens=tokens[:sources], args=args, skills=skilled == "on"
            )
            label = f"{scenario}, {sources} source{'s' if sources > 1 else ''}"
            label += ", schedules" if scheduled == "on" else ""
            label += ", offers" if offering == "on" else ""
            label += ", subscribed" if subscribed == "on" else ""
            label += f", {strategy.replace('_', ' ')}" if strategy != "weighted" else ""
            label += ", skills" if skilled == "on" else ""
            print(row(label, result, floor_rps=rps(floor), stored=stored_since(mark)))
            ratios.setdefault(label, []).append(ratio(result, rps(floor)))
        print(f"CPU over the cases (the whole machine): {cpu_share(started, cpu_times())}")
        if args.runs > 1:
            for line in summary(ratios):
                print(line)
    if args.pages:
        for line in time_pages():
            print(line)
    return 0


def fresh_database(url: str) -> None:
    """Drop and re-create the database, migrate the app, and create the floor's table next to it."""
    config = environ.Env.db_url_config(url)
    if "bench" not in Path(config["NAME"]).name:
        sys.exit(f"Refusing to re-create {config['NAME']!r}: give the benchmark a database named *bench*.")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        for suffix in ("", "-wal", "-shm"):
            Path(config["NAME"] + suffix).unlink(missing_ok=True)
    else:
        from tests.livehost import recreate_database

        recreate_database(url)
    manage = [sys.executable, "-m", "django", "migrate", "--noinput", "-v0"]
    subprocess.run([*manage, "--settings", "config.settings"], cwd=REPO, check=True)
    # The floor's app has no migrations: --run-syncdb creates its table.
    subprocess.run([*manage, "--settings", "bench.floor.settings", "--run-syncdb"], cwd=REPO, check=True)


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []

    def first(key: str) -> str | None:
        return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(key)), None)

    # Two hosts sold as the same "AMD EPYC" have run at 2.45 and 2.6 GHz: the clock tells them apart.
    mhz = first("cpu MHz")
    clock = f", {float(mhz):,.0f} MHz" if mhz else ""
    return f"{os.cpu_count()} cores, {first('model name') or platform.processor() or 'unknown CPU'}{clock}"


def database() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        major, minor = divmod(connection.pg_version, 10_000)
        with connection.cursor() as cursor:
            cursor.execute("SHOW shared_preload_libraries")
            [(preloaded,)] = cursor.fetchall()
        return f"PostgreSQL {major}.{minor}{preload_warning(preloaded)}"
    return f"{connection.vendor} {connection.Database.sqlite_version}"


def preload_warning(preloaded: str) -> str:
    """A warning for the header when PostgreSQL loads extensions at start: pg_stat_statements (the usual
    one) slows every statement, the intake's many more than the floor's one, so such figures do not compare
    with others."""
    preloaded = preloaded.strip()
    if not preloaded:
        return ""
    return (
        f" (WARNING: shared_preload_libraries = {preloaded!r} slows every statement; figures not comparable)"
    )


def cpu_times() -> list[int] | None:
    """The machine's CPU time so far (/proc/stat's first line: user, nice, system, idle, iowait, irq,
    softirq, steal, ...), in ticks; None where there is no /proc."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return None
    return [int(value) for value in stat.read_text().split("\n", 1)[0].split()[1:]]


def cpu_share(before: list[int] | None, after: list[int] | None) -> str:
    """How busy the machine was between two cpu_times(), and how much of it the host's other tenants took
    (steal): a ratio measured while something else ran, or on a host that lent its cores away, says so."""
    if not before or not after:
        return "not known (no /proc/stat)"
    spent = [b - a for a, b in zip(before, after, strict=False)]
    total = sum(spent[:8]) or 1
    idle = spent[3] + spent[4]
    steal = spent[7] if len(spent) > 7 else 0
    return f"busy {1 - idle / total:.1%}, idle {idle / total:.1%}, stolen {steal / total:.1%}"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "not known"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)"


def add_sources(count: int, tokens: list[str]) -> None:
    """Add sources with 20 operators each (weights 1..20) until there are `count`; collect their tokens."""
    from crm.models import Operator, SourceOperatorWeight
    from crm.services import create_source

    for n in range(len(tokens), count):
        source, token = create_source(name=f"Bench source {n + 1}")
        tokens.append(token)
        operators = Operator.objects.bulk_create(
            Operator(name=f"Bench {n + 1}.{i}", load_limit=FREE_LIMIT)
            for i in range(1, OPERATORS_PER_SOURCE + 1)
        )
        SourceOperatorWeight.objects.bulk_create(
            SourceOperatorWeight(source=source, operator=op, weight=i) for i, op in enumerate(operators, 1)
        )


def set_scenario(scenario: str) -> None:
    """free: no limit binds. flood: every operator holds FLOOD_LIMIT contacts in the window and is full."""
    from django.utils import timezone

    from crm.models import Contact, Lead, Operator, SourceOperatorWeight

    if scenario == "free":
        Operator.objects.update(load_limit=FREE_LIMIT)
        return
    Operator.objects.update(load_limit=FLOOD_LIMIT)
    lead, _ = Lead.objects.get_or_create(external_id="flood-fill")
    at = timezone.now() - timedelta(minutes=1)
    routes = SourceOperatorWeight.objects.values_list("source_id", "operator_id")
    insert(
        Contact,
        (
            Contact(
                lead=lead,
                source_id=source_id,
                operator_id=operator_id,
                created_at=at,
                assigned_at=at,
                state="assigned",
            )
            for source_id, operator_id in routes
            for _ in range(FLOOD_LIMIT)
        ),
    )


def set_subscribed(on: bool) -> None:
    """on: one subscription to every event type of every source (to a port nobody listens on: nothing is
    sent during a run, the intake only writes each contact's event to the outbox)."""
    from events import services
    from events.choices import EventType
    from events.models import Subscription

    Subscription.objects.all().delete()
    if on:
        services.create_subscription(url="http://127.0.0.1:9/events", events=list(EventType.values))


def set_strategy(strategy: str) -> None:
    from crm.models import Source

    Source.objects.update(strategy=strategy)


def set_skills(on: bool) -> None:
    """on: every operator holds ru and en, every source requires en (so its route reads the operators'
    skills) and every contact asks for ru (intake.lua's BENCH_SKILLS); off: no skills anywhere."""
    from crm.models import Operator, Skill, Source
    from distribution import capacity

    Operator.skills.through.objects.all().delete()
    for source in Source.objects.all():
        capacity.set_source_skills(source=source, required=[], preferred=[])
    if not on:
        return
    ru, en = (Skill.objects.get_or_create(name=name)[0] for name in ("ru", "en"))
    insert(
        Operator.skills.through,
        (
            Operator.skills.through(operator_id=op, skill_id=skill.pk)
            for op in Operator.objects.values_list("pk", flat=True)
            for skill in (ru, en)
        ),
    )
    for source in Source.objects.all():
        capacity.set_source_skills(source=source, required=["en"])


def set_offers(on: bool) -> None:
    """on: every source offers its contacts (accept within an hour, so none expires during a run)."""
    from crm.models import Source

    Source.objects.update(accept_within_seconds=3600 if on else None)


def set_schedules(on: bool) -> None:
    """on: every operator on a weekly schedule of two intervals a day that keep it on shift now (00:00–13:00
    and 12:00–24:00 in its zone), with one day off a month ahead; off: no schedule (always on shift)."""
    from datetime import date, time

    from django.db import transaction
    from django.utils import timezone

    from crm import shifts
    from crm.models import Operator, ScheduleException, ShiftInterval

    ShiftInterval.objects.all().delete()
    ScheduleException.objects.all().delete()
    Operator.objects.update(scheduled=False, shift_starts_at=None, shift_ends_at=None, shift_due_at=None)
    if not on:
        return
    operators = list(Operator.objects.all())
    day_off = date.today() + timedelta(days=30)
    insert(
        ShiftInterval,
        (
            ShiftInterval(operator=op, weekday=day, starts=starts, ends=ends)
            for op in operators
            for day in range(7)
            for starts, ends in ((time(0), time(13)), (time(12), time(0)))
        ),
    )
    insert(
        ScheduleException,
        (ScheduleException(operator=op, start_date=day_off, end_date=day_off) for op in operators),
    )
    now = timezone.now()
    with transaction.atomic():
        for operator in Operator.objects.prefetch_related("shift_intervals"):
            shifts.store(operator, now=now)


def load_history(*, count: int, rng: random.Random) -> None:
    """`count` contacts spread over the past year across the operators, 2 % unassigned, 90 % of the others
    closed, a third of those given through offers, on a pool of leads a third as large; ids grow with
    created_at, as the service leaves them.

    Straight into the tables (COPY on PostgreSQL), not through the service: history only has to look like
    what the service leaves behind, and a million service calls would take longer than the benchmark.
    """
    from django.utils import timezone

    from crm.models import Contact, Lead, Offer, SourceOperatorWeight

    insert(Lead, (Lead(external_id=f"history-{i}", name=f"Customer {i}") for i in range(max(1, count // 3))))
    lead_ids = list(Lead.objects.values_list("pk", flat=True))
    routes = list(SourceOperatorWeight.objects.values_list("source_id", "operator_id"))
    now, year = timezone.now(), timedelta(days=365)

    def contacts() -> Iterator[Contact]:
        for moment in sorted(rng.random() for _ in range(count)):
            at = now - year * (1 - moment)
            source_id, operator_id = rng.choice(routes)
            if rng.random() < 0.02:
                yield Contact(
                    lead_id=rng.choice(lead_ids),
                    source_id=source_id,
                    created_at=at,
                    unassigned_reason="all_at_limit",
                )
            else:
                # Most of the past is handled: closed within the hour it was given.
                closed = rng.random() < 0.9
                yield Contact(
                    lead_id=rng.choice(lead_ids),
                    source_id=source_id,
                    created_at=at,
                    operator_id=operator_id,
                    assigned_at=at,
                    state="closed" if closed else "assigned",
                    closed_at=at + timedelta(minutes=rng.uniform(1, 60)) if closed else None,
                )

    insert(Contact, contacts())

    def offers() -> Iterator[Offer]:
        """A third of the assigned history came through offers: accepted within two minutes, one in ten
        after another operator let an offer expire."""
        given = Contact.objects.filter(operator__isnull=False).values_list(
            "pk", "source_id", "operator_id", "assigned_at"
        )
        for contact_id, source_id, operator_id, at in given.iterator(chunk_size=5000):
            if contact_id % 3:
                continue
            if rng.random() < 0.1:
                _, other = rng.choice(routes)
                before = at - timedelta(seconds=60)
                yield Offer(
                    contact_id=contact_id,
                    source_id=source_id,
                    operator_id=other,
                    offered_at=before,
                    ended_at=at,
                    outcome="expired",
                )
            yield Offer(
                contact_id=contact_id,
                source_id=source_id,
                operator_id=operator_id,
                offered_at=at,
                ended_at=at + timedelta(seconds=rng.uniform(5, 120)),
                outcome="accepted",
            )

    insert(Offer, offers())


def insert(model: type, objs: Iterable) -> None:
    """Insert model instances in transactions of 50,000: COPY on PostgreSQL, bulk_create elsewhere."""
    from django.db import connection, transaction

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    copy_sql = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
    objs = iter(objs)
    while chunk := list(itertools.islice(objs, 50_000)):
        with transaction.atomic():
            if connection.vendor != "postgresql":
                model.objects.bulk_create(chunk)
                continue
            with connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
                for obj in chunk:
                    copy.write_row([f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])


def refresh_statistics() -> None:
    """Fresh planner statistics; VACUUM too, as rows fresh from COPY are not yet all-visible (and
    autovacuum, off on some machines, would otherwise do it in the middle of a measurement)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)" if connection.vendor == "postgresql" else "ANALYZE")


@contextlib.contextmanager
def serving(app: str, ready_path: str, env: dict[str, str], args: argparse.Namespace) -> Iterator[str]:
    """gunicorn with the repository's config for one WSGI app; yields its base URL, always stops it."""
    from tests.livehost import free_port, start_gunicorn, stop, wait_healthy

    port = free_port(PORTS)
    log = REPO / "artifacts" / "bench" / f"{app.split('.')[0]}-gunicorn.log"
    log.unlink(missing_ok=True)
    proc = start_gunicorn(port=port, env=env, workers=args.workers, app=app, log=log)
    try:
        try:
            wait_healthy(f"http://127.0.0.1:{port}{ready_path}", timeout=60, proc=proc)
        except RuntimeError as exc:
            sys.exit(f"{exc}; see {log}")
        yield f"http://127.0.0.1:{port}/api/contacts/"
    finally:
        stop(proc, timeout=30)


def measure(
    url: str,
    floor_url: str,
    *,
    prefix: str,
    tokens: list[str],
    args: argparse.Namespace,
    skills: bool = False,
) -> tuple[dict, dict, int]:
    """Warm both up, then measure the floor and the case in turns of `--slice` seconds each, `--duration`
    seconds in all for each, the order swapped every turn. This machine's speed swings by a third within
    seconds (other tenants of the host); in turns, the floor and the case meet the same swings, which a
    floor measured once, before the cases, does not. Returns the floor's and the case's wrk figures
    (summed; p50 the median of the turns, p99 the worst) and the last contact id before the measured part.
    """
    from django.db import connection

    def wrk(target: str, name: str, seconds: int) -> dict:
        keys = [] if target == floor_url else tokens
        return run_wrk(
            target,
            prefix=f"{prefix}-{name}",
            tokens=keys,
            seconds=seconds,
            connections=args.connections,
            skills=skills,
        )

    if args.warmup:
        wrk(floor_url, "floor-warmup", args.warmup)
        wrk(url, "warmup", args.warmup)
    mark = last_contact_id()
    connection.close()  # hold nothing open while gunicorn works
    turns = max(1, round(args.duration / args.slice))
    seconds = max(1, round(args.duration / turns))
    floor, case = [], []
    for turn in range(turns):
        order = [(floor_url, floor), (url, case)]
        for target, parts in order if turn % 2 == 0 else reversed(order):
            parts.append(wrk(target, f"{'floor-' if parts is floor else ''}{turn}", seconds))
    return combined(floor), combined(case), mark


def combined(parts: list[dict]) -> dict:
    """wrk's figures of several turns as one: counts and seconds summed, the median p50, the worst p99."""
    total = {
        key: sum(part[key] for part in parts)
        for key in ("requests", "seconds", "http_errors", "socket_errors")
    }
    total["p50_ms"] = statistics.median(part["p50_ms"] for part in parts)
    total["p99_ms"] = max(part["p99_ms"] for part in parts)
    return total


def run_wrk(
    url: str, *, prefix: str, tokens: list[str], seconds: int, connections: int, skills: bool = False
) -> dict:
    threads = min(os.cpu_count() or 1, connections)
    # --timeout as gunicorn's: a slow answer counts as slow, not as an error.
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s", str(LUA)]
    env = {**os.environ, "BENCH_SKILLS": "ru" if skills else ""}
    out = subprocess.run(
        [*command, url, "--", prefix, *tokens], capture_output=True, text=True, check=True, env=env
    )
    return parse_wrk(out.stdout)


def parse_wrk(stdout: str) -> dict:
    """The JSON line intake.lua's done() prints after wrk's own summary."""
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def rps(result: dict) -> float:
    return result["requests"] / result["seconds"] if result["seconds"] else 0.0


def ratio(result: dict, floor_rps: float) -> float:
    """The case's requests/s over the floor's of the same turns (0 when the floor answered nothing)."""
    return rps(result) / floor_rps if floor_rps else 0.0


def row(label: str, result: dict, *, floor_rps: float, stored: str = "") -> str:
    errors = result["http_errors"] + result["socket_errors"]
    figures = (
        f"{rps(result):9,.1f} {floor_rps:9,.1f} {ratio(result, floor_rps):8.3f} {result['p50_ms']:7.1f} "
        f"{result['p99_ms']:7.1f}"
    )
    return f"{label:33} {figures} {errors:7,}  {stored}".rstrip()


def summary(ratios: dict[str, list[float]]) -> list[str]:
    """Each case's ratios to the floor over the runs: the median, the spread and every run's."""
    lines = [f"{'/ floor over the runs':33} {'median':>8}  {'spread':>13}  runs"]
    for label, found in ratios.items():
        spread = f"{min(found):.3f}-{max(found):.3f}"
        runs = ", ".join(f"{each:.3f}" for each in found)
        lines.append(f"{label:33} {statistics.median(found):8.3f}  {spread:>13}  {runs}")
    return lines


def last_contact_id() -> int:
    from crm.models import Contact

    return Contact.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def stored_since(mark: int) -> str:
    """What the measured contacts became: "12,345 assigned", "12,345 offered" or "12,345 all_at_limit"
    (warm-up excluded)."""
    from django.db.models import Count

    from crm.models import Contact

    counts = Contact.objects.filter(pk__gt=mark).values_list("state", "unassigned_reason")
    counts = counts.annotate(n=Count("pk")).order_by("state", "unassigned_reason")
    return ", ".join(f"{n:,} {reason or state}" for state, reason, n in counts)


def time_pages() -> Iterator[str]:
    """Each page in-process as a superuser: server time (median of 3 after a warm-up) and queries."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from crm.models import Lead, Source

    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: collectstatic never ran
    logging.getLogger("axes").setLevel(logging.WARNING)  # its four lines about the login below, not a page's
    user = get_user_model().objects.create_superuser("bench-admin", password=None)
    lead, external_id = Lead.objects.order_by("pk").values_list("pk", "external_id").first()
    source = Source.objects.order_by("pk").values_list("pk", flat=True).first()
    client = Client()
    client.force_login(user)
    # Pages render asset URLs without a collectstatic manifest; that costs the same.
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        today = timezone.localdate()
        days = {"today": today, "month_ago": today - timedelta(days=29)}
        for url in (page.format(lead=lead, source=source, external_id=external_id, **days) for page in PAGES):
            times = []
            for _ in range(4):
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            with CaptureQueriesContext(connection) as queries:
                client.get(url)
            median = statistics.median(times[1:])
            yield f"{url:48} {response.status_code}  {median:6.1f} ms  {len(queries):2} queries"


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # run as a script: make `config`, `crm`, `bench` and `tests` importable
    sys.exit(main())
