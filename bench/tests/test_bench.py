"""The benchmark's own parts: the floor project, wrk's result line, the report, one very short run.

Correctness only, never speed: the figures themselves are the benchmark's to print.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from bench.bench_intake import REPO, combined, cpu_share, parse_wrk, preload_warning, row, summary
from tests.livehost import free_port, start_gunicorn, stop, wait_healthy


def require_wrk() -> None:
    if shutil.which("wrk"):
        return
    message = "wrk is not installed (apt-get install wrk; .ci/run does it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {message}; the benchmark must run in CI")
    pytest.skip(message)


def test_deployments_carry_no_bench_app(client):
    assert not any(app.startswith("bench") for app in settings.INSTALLED_APPS)
    assert client.post("/bench/floor/", {}).status_code == 404


@pytest.mark.own_database
def test_floor_answers_201_and_inserts_one_row(tmp_path: Path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'floor.sqlite3'}"}
    migrate = [
        sys.executable,
        "-m",
        "django",
        "migrate",
        "--run-syncdb",
        "-v0",
        "--settings",
        "bench.floor.settings",
    ]
    subprocess.run(migrate, cwd=REPO, env={**os.environ, **env}, check=True)
    port = free_port(range(8100, 8200))
    server = start_gunicorn(port=port, env=env, workers=1, app="bench.floor.wsgi:application")
    try:
        url = f"http://127.0.0.1:{port}/api/contacts/"
        wait_healthy(url, proc=server)
        body = {"external_id": "floor-1", "name": "Ivan", "message": "Call me"}
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
    finally:
        stop(server)
    with sqlite3.connect(tmp_path / "floor.sqlite3") as db:
        rows = db.execute("SELECT external_id, name, message FROM bench_floor_contact").fetchall()
    assert rows == [("floor-1", "Ivan", "Call me")]


def test_wrk_result_is_the_json_line_after_wrks_summary():
    stdout = (
        "Running 1s test @ http://127.0.0.1:8100/api/contacts/\n  2 threads and 4 connections\n"
        '{"requests": 500, "seconds": 1.250, "http_errors": 2, "socket_errors": 1, "p50_ms": 7.5, "p99_ms": 20.4}\n'
    )
    result = parse_wrk(stdout)

    assert result["requests"] == 500 and result["seconds"] == 1.25 and result["p99_ms"] == 20.4
    line = row("free, 2 sources", result, floor_rps=1000.0, stored="398 assigned")
    # 500 answers in 1.25 s = 400 req/s = 0.4 of the floor; errors are HTTP and socket errors together.
    figures = ["400.0", "1,000.0", "0.400", "7.5", "20.4", "3", "398", "assigned"]
    assert line.split() == ["free,", "2", "sources", *figures]


def test_turns_add_up_to_one_measurement():
    keys = ("requests", "seconds", "http_errors", "socket_errors", "p50_ms", "p99_ms")
    turns = [(100, 2.0, 1, 0, 5.0, 9.0), (300, 2.0, 0, 2, 9.0, 30.0), (200, 2.0, 0, 0, 6.0, 12.0)]
    total = combined([dict(zip(keys, turn, strict=True)) for turn in turns])
    # Counts and seconds summed; p50 the median of the turns', p99 the worst turn's.
    assert [total[key] for key in keys] == [600, 6.0, 1, 2, 6.0, 30.0]


def test_several_runs_end_with_each_cases_median_and_spread():
    lines = summary({"free, 2 sources": [0.44, 0.41, 0.50], "free, 2 sources, skills": [0.40, 0.43, 0.39]})
    assert lines[0].split() == ["/", "floor", "over", "the", "runs", "median", "spread", "runs"]
    free = lines[1].removeprefix("free, 2 sources").split(None, 2)
    # The median of the runs (not the mean 0.450, not the last), the lowest to the highest, every run in order.
    assert free == ["0.440", "0.410-0.500", "0.440, 0.410, 0.500"]
    skills = lines[2].removeprefix("free, 2 sources, skills").split(None, 2)
    assert skills == ["0.400", "0.390-0.430", "0.400, 0.430, 0.390"]


def test_the_header_warns_when_postgresql_preloads_a_library():
    # pg_stat_statements slows every statement, the intake's more than the floor's: say so in the header.
    assert preload_warning("") == "" and preload_warning("  ") == ""
    warning = preload_warning("pg_stat_statements")
    assert "WARNING" in warning and "'pg_stat_statements'" in warning and "not comparable" in warning


def test_the_cpu_share_counts_idle_and_steal_of_the_measured_span():
    # /proc/stat's ticks: user nice system idle iowait irq softirq steal guest guest_nice.
    before = [1000, 0, 200, 5000, 10, 0, 5, 40, 0, 0]
    after = [1700, 0, 400, 5080, 20, 0, 5, 50, 0, 0]  # 1000 ticks: 90 idle or waiting, 10 stolen
    assert cpu_share(before, after) == "busy 91.0%, idle 9.0%, stolen 1.0%"
    assert cpu_share(None, after) == "not known (no /proc/stat)"


@pytest.mark.own_database
def test_a_very_short_run_prints_every_case_against_the_floor(tmp_path: Path):
    require_wrk()
    command = [
        sys.executable,
        "bench/bench_intake.py",
        "--database-url",
        f"sqlite:///{tmp_path / 'bench.sqlite3'}",
    ]
    command += ["--duration", "2", "--slice", "1", "--warmup", "0", "--workers", "2", "--connections", "4"]
    command += ["--history", "50"]
    # Two cases, each with the features that change what the intake reads (shifts, skills in the body).
    command += [
        "--scenario",
        "free",
        "flood",
        "--sources",
        "2",
        "--schedules",
        "on",
        "--skills",
        "on",
        "--pages",
    ]
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run(command, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)

    assert out.returncode == 0, out.stderr[-3000:]
    lines = {line.split("  ")[0].strip(): line for line in out.stdout.splitlines()}
    assert "cores" in out.stdout and "command: python bench/bench_intake.py --database-url" in out.stdout
    # The machine's state is part of every figure: the load before, how busy it was and what was stolen.
    assert "load average before: " in out.stdout and "(1, 5, 15 min)" in out.stdout
    assert "CPU over the cases (the whole machine): busy " in out.stdout and ", stolen " in out.stdout
    cases = ("free, 2 sources, schedules, skills", "flood, 2 sources, schedules, skills")
    for case in cases:
        rate, floor, ratio, _, _, errors = lines[case].removeprefix(case).split()[:6]
        # A floor of its own; no errors.
        assert float(floor.replace(",", "")) > 0 and errors == "0", lines[case]
        assert abs(float(rate.replace(",", "")) / float(floor.replace(",", "")) - float(ratio)) < 0.001
    # On a schedule that holds now and with the skills asked for, everyone stays eligible: contacts are
    # assigned (nobody is full), not left off shift or waiting for skills; in a flood everybody is full.
    assert lines["free, 2 sources, schedules, skills"].endswith(" assigned")
    assert lines["flood, 2 sources, schedules, skills"].endswith(" all_at_limit")
    assert "/admin/crm/contact/" in out.stdout and " 200 " in lines["/admin/crm/contact/"]
    assert "AXES" not in out.stderr  # the pages' login is no news
