"""What a benchmark run found, as plain data: shares, the limit check, queries per request, the machine."""

import json
import logging
import os
import platform
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass

import django
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.test import Client, RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext

from bench.floor import floor
from bench.history import BenchSetup
from bench.pages import SLOW_MS
from crm.models import Contact, Operator

# Chi-square bound for 9 degrees of freedom (ten operators) at p = 0.001, as in the selection tests.
CHI_SQUARE_DF9_P001 = 27.88
TARGET_RATIO = 0.40  # issue #6: intake at >= 40% of the floor


@dataclass(frozen=True)
class Share:
    operator_id: int
    name: str
    weight: int
    expected: float  # weight / total weight
    contacts: int
    actual: float  # contacts / assigned contacts of the run


@dataclass(frozen=True)
class Shares:
    contacts: int  # created during the measured intake run
    unassigned: int
    rows: list[Share]
    chi_square: float

    @property
    def consistent(self) -> bool:
        return self.chi_square < CHI_SQUARE_DF9_P001

    def as_dict(self) -> dict:
        return {**asdict(self), "chi_square_bound_p001": CHI_SQUARE_DF9_P001, "consistent": self.consistent}


def last_contact_id() -> int:
    return Contact.objects.order_by("-id").values_list("id", flat=True).first() or 0


def shares_since(*, setup: BenchSetup, after_id: int, prefix: str) -> Shares:
    """Per bench operator: its share of the run's assigned contacts next to its weight share.

    The run's contacts are those after `after_id` whose lead's external id starts with `prefix`: the id
    keeps the scan short, the prefix leaves out warm-up requests that were still in flight.
    """
    counts = dict(
        Contact.objects.filter(source=setup.source, id__gt=after_id, lead__external_id__startswith=prefix)
        .order_by()
        .values_list("operator_id")
        .annotate(n=Count("id"))
    )
    unassigned = counts.pop(None, 0)
    assigned = sum(counts.values())
    total_weight = setup.total_weight
    rows = [
        Share(
            operator_id=op.pk,
            name=op.name,
            weight=setup.weights[op.pk],
            expected=setup.weights[op.pk] / total_weight,
            contacts=counts.get(op.pk, 0),
            actual=counts.get(op.pk, 0) / assigned if assigned else 0.0,
        )
        for op in setup.operators
    ]
    chi_square = sum(
        (row.contacts - assigned * row.expected) ** 2 / (assigned * row.expected) for row in rows if assigned
    )
    return Shares(
        contacts=assigned + unassigned, unassigned=unassigned, rows=rows, chi_square=round(chi_square, 2)
    )


def operators_over_limit() -> tuple[int, list[str]]:
    """(operators checked, those whose load in the window exceeds their limit); one query."""
    operators = list(Operator.objects.with_load())
    over = [f"{op.name}: {op.load} / {op.load_limit}" for op in operators if op.load > op.load_limit]
    return len(operators), over


def queries_per_request(*, setup: BenchSetup, prefix: str) -> dict[str, list[str]]:
    """The SQL one intake request and one floor request run, in-process (the same code gunicorn runs).

    Django's connection health check (CONN_HEALTH_CHECKS) runs on the raw connection and is not in
    this list: on PostgreSQL each request pays one more round trip for it, the floor as much as intake.
    """
    intake_body = json.dumps({"external_id": f"{prefix}-1", "message": "benchmark"})
    floor_request = RequestFactory().post(
        "/bench/floor/", json.dumps({"external_id": f"{prefix}-floor-1"}), content_type="application/json"
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {setup.source.token}")
    intake_log = logging.getLogger("leadflow.intake")
    level = intake_log.level
    intake_log.setLevel(logging.WARNING)  # its one INFO line would land in the middle of the report
    try:
        with override_settings(ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
            with CaptureQueriesContext(connection) as intake:
                response = client.post("/api/contacts/", intake_body, "application/json", secure=True)
            with CaptureQueriesContext(connection) as floor_queries:
                floor(floor_request)
    finally:
        intake_log.setLevel(level)
    if response.status_code != 201:
        raise RuntimeError(f"in-process intake answered {response.status_code}: {response.content[:200]!r}")
    return {
        "intake": [q["sql"] for q in intake.captured_queries],
        "floor": [q["sql"] for q in floor_queries.captured_queries],
    }


def machine() -> dict:
    """Where the figures come from: they only compare within one machine, so say which one."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:
        pass
    return {
        "cpu": cpu or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": database(),
        "commit": git_commit(),
    }


def cpu_busy(*, seconds: float = 1.0) -> float | None:
    """Share of the machine's CPU time spent busy over `seconds`, from /proc/stat; None without /proc."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:]]
        idle = ticks[3] + ticks[4]  # idle + iowait
        return sum(ticks) - idle, sum(ticks)

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return round((busy1 - busy0) / (total1 - total0), 3) if total1 > total0 else None


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def database() -> dict:
    vendor = connection.vendor
    if vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        name = connection.settings_dict["NAME"]
    else:
        version, name = sqlite3.sqlite_version, str(connection.settings_dict["NAME"])
    return {"vendor": vendor, "version": version, "name": name}


def git_commit() -> str:
    """HEAD's short hash, with "+dirty" when the working tree has changes; "" outside a git checkout."""
    def git(*args: str) -> str:
        # --no-optional-locks: `git status` must not take the index lock from someone working in this tree.
        command = ["git", "--no-optional-locks", *args]
        done = subprocess.run(command, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=5)
        return done.stdout.strip()

    try:
        head, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain")
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{head}+dirty" if head and dirty else head


def render(f: dict) -> list[str]:
    """The figures of one run as the lines the command prints."""
    m, db = f["machine"], f["machine"]["database"]
    lines = [
        f"\nLeadflow intake benchmark, run {f['run']} (commit {m['commit'] or '?'})",
        f"  machine   {m['cpu']}, {m['cores']} cores; Python {m['python']}, Django {m['django']}",
        f"  database  {db['vendor']} {db['version']} ({db['name']})",
        f"  data      history: {f['history']:,} contacts of the bench source; {f['leads']:,} leads in all",
        f"  noise     CPU busy {_percent(f['cpu_busy_before_start'])} in the second before the start "
        "(other work on the machine; idle: ~0%)",
        f"  load      gunicorn {f['workers']} workers; {f['client']}, {f['connections']} connections, "
        f"{f['duration_s']:g} s each after {f['warmup_s']:g} s of warm-up",
        "",
        f"  {'':8} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7} "
        f"{'5xx':>5}",
    ]
    for name in ("intake", "floor"):
        r = f[name]
        lines.append(
            f"  {name:8} {r['rps']:>9,.1f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} "
            f"{r['requests']:>9,} {r['errors']:>7,} {r['status_5xx']:>5,}"
        )
    for name in ("intake", "floor"):
        r = f[name]
        if r["errors"]:
            lines.append(
                f"  {name}: {r['non_2xx']:,} non-2xx answers {r['statuses']}, "
                f"{r['socket_errors']:,} socket errors"
            )
    ratio, target = f["ratio"], f["target_ratio"]
    if ratio is None:
        lines.append("\n  intake / floor = n/a (the floor answered nothing)")
    else:
        verdict = "meets" if ratio >= target else "below"
        lines.append(f"\n  intake / floor = {ratio:.3f}  ({verdict} the {target:.0%} target)")

    shares = f["shares"]
    lines += [
        f"\n  Shares of the {shares['contacts']:,} contacts created during the intake run "
        f"({shares['unassigned']:,} unassigned):",
        f"    {'operator':24} {'weight':>6} {'expected':>9} {'actual':>8} {'contacts':>9}",
    ]
    for row in shares["rows"]:
        lines.append(
            f"    {row['name']:24} {row['weight']:>6} {row['expected']:>9.1%} {row['actual']:>8.1%} "
            f"{row['contacts']:>9,}"
        )
    agreement = "consistent with the weights" if shares["consistent"] else "NOT consistent with the weights"
    bound = shares["chi_square_bound_p001"]
    lines.append(f"    chi-square {shares['chi_square']} (df 9; bound {bound} at p = 0.001): {agreement}")

    limits = f["limits"]
    if limits["over_limit"]:
        lines.append(f"\n  OVER THE LIMIT: {'; '.join(limits['over_limit'])}")
    else:
        lines.append(f"\n  Limits: none of the {limits['operators_checked']} operators is over its limit.")
    for name in ("intake", "floor"):
        log = f[name]["log"]
        lines.append(
            f"  Server log, {name}: statuses {log['statuses']}; tracebacks {log['tracebacks']}, "
            f"'database is locked' {log['database_locked']}, worker timeouts {log['worker_timeouts']}, "
            f"workers (re)started {log['workers_booted']}"
        )
    q = f["queries_per_request"]
    lines.append(
        f"  Queries per request (in-process, without the connection health check): intake {q['intake']}, "
        f"floor {q['floor']}"
    )

    if "pages" in f:
        lines += [
            "\n  Pages, in-process: median and max of 5 after a warm-up, then one more for the queries;",
            f"  over {SLOW_MS:.0f} ms flagged, with its slowest statement:",
            f"    {'url':50} {'median ms':>10} {'max ms':>8} {'queries':>8} {'SQL ms':>8}",
        ]
        for page in f["pages"]:
            if page["error"]:
                lines.append(f"    {page['url']:50} {page['error']}")
                continue
            lines.append(
                f"    {page['url']:50} {page['median_ms']:>10.1f} {page['max_ms']:>8.1f} "
                f"{page['queries']:>8} {page['sql_ms']:>8.1f}{'  SLOW' if page['slow'] else ''}"
            )
            if page["slow"]:
                lines.append(f"      slowest: {page['slowest_sql']}")
    lines.append(f"\n  gunicorn log: {f['gunicorn_log']}")
    return lines
