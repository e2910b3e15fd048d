"""The benchmark's own parts: history loader, floor view, load clients. Correctness only, never speed."""

import io
import json
from collections import Counter

import pytest
from django.test import RequestFactory
from django.urls import resolve
from django.utils import timezone

from bench import history, load, report
from bench.floor import floor
from crm.models import Contact, Lead, Operator
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db


def bench_contacts(setup: history.BenchSetup):
    return Contact.objects.filter(source=setup.source)


def test_history_is_topped_up_never_doubled(rng):
    setup = history.prepare_source()
    progress = io.StringIO()

    assert history.load_history(setup=setup, contacts=600, leads=50, rng=rng, stream=progress) == 600
    assert "600/600" in progress.getvalue()
    assert bench_contacts(setup).count() == 600
    assert Lead.objects.filter(external_id__startswith=history.HISTORY_LEAD_PREFIX).count() == 50

    # A second run adds nothing; a bigger one adds the difference.
    assert history.load_history(setup=setup, contacts=600, leads=50, rng=rng) == 0
    assert history.load_history(setup=setup, contacts=800, leads=50, rng=rng) == 200
    assert bench_contacts(setup).count() == 800
    assert Lead.objects.count() == 50


def test_history_spreads_over_the_year_and_unassigned_contacts_carry_a_reason(rng):
    setup = history.prepare_source()
    now = timezone.now()
    history.load_history(setup=setup, contacts=2_000, leads=300, rng=rng, now=now)

    moments = list(bench_contacts(setup).values_list("created_at", flat=True))
    start = now - history.HISTORY_SPAN
    assert all(start <= moment <= now for moment in moments)
    quarters = Counter(int((moment - start) / (history.HISTORY_SPAN / 4)) for moment in moments)
    assert all(350 < quarters[q] < 650 for q in range(4))  # 500 expected in each

    unassigned = bench_contacts(setup).filter(operator=None)
    assert 0 < unassigned.count() < 200  # 2% of 2,000 expected
    assert set(unassigned.values_list("unassigned_reason", flat=True)) == {"all_at_limit"}
    assigned = bench_contacts(setup).exclude(operator=None)
    assert set(assigned.values_list("operator_id", flat=True)) == set(setup.weights)
    assert set(assigned.values_list("unassigned_reason", flat=True)) == {""}
    assert {(c.message, json.dumps(c.explanation)) for c in bench_contacts(setup)} == {("", "{}")}
    # Ids grow with time, as the service leaves them.
    assert list(bench_contacts(setup).order_by("id").values_list("created_at", flat=True)) == sorted(moments)


def test_prepare_source_resets_the_operators_it_finds():
    first = history.prepare_source()
    Operator.objects.filter(pk=first.operators[0].pk).update(is_active=False, load_limit=3)
    WeightFactory(source=first.source, operator=OperatorFactory())  # someone added an operator by hand

    again = history.prepare_source()

    assert [op.pk for op in again.operators] == [op.pk for op in first.operators]
    assert sorted(again.weights.values()) == list(range(1, 11)) and again.total_weight == 55
    assert set(again.source.weights.values_list("operator_id", flat=True)) == set(again.weights)
    assert Operator.objects.get(pk=first.operators[0].pk).is_active
    assert Operator.objects.get(pk=first.operators[0].pk).load_limit == history.LOAD_LIMIT


def test_earlier_runs_are_removed_but_history_and_other_leads_stay(rng):
    setup = history.prepare_source()
    history.load_history(setup=setup, contacts=10, leads=5, rng=rng)
    run_lead = LeadFactory(external_id="bench-20240601-1-1")
    ContactFactory(source=setup.source, operator=setup.operators[0], lead=run_lead)
    LeadFactory(external_id="bench-floor-20240601-1-1")
    LeadFactory(external_id="customer-1")

    assert history.remove_earlier_runs() == (1, 2)
    assert bench_contacts(setup).count() == 10
    assert Lead.objects.filter(external_id="customer-1").exists()


def test_shares_count_only_the_runs_contacts_and_the_limit_check_sees_every_operator(rng):
    setup = history.prepare_source()
    history.load_history(setup=setup, contacts=20, leads=5, rng=rng)  # history: not the run's
    mark = report.last_contact_id()
    w01, w10 = setup.operators[0], setup.operators[9]
    for i, operator in enumerate([w01, w10, w10, None]):
        lead = LeadFactory(external_id=f"bench-r1-1-{i}")
        ContactFactory(source=setup.source, operator=operator, lead=lead)
    ContactFactory(source=setup.source, operator=w01, lead=LeadFactory(external_id="bench-warmup-r1-1-1"))

    shares = report.shares_since(setup=setup, after_id=mark, prefix="bench-r1-")

    assert (shares.contacts, shares.unassigned) == (4, 1)
    by_weight = {row.weight: row for row in shares.rows}
    assert (by_weight[1].contacts, by_weight[10].contacts, by_weight[5].contacts) == (1, 2, 0)
    assert by_weight[10].actual == pytest.approx(2 / 3) and by_weight[10].expected == pytest.approx(10 / 55)
    assert shares.chi_square > 0
    OperatorFactory(load_limit=0)
    ContactFactory(operator=OperatorFactory(load_limit=0, name="Full"))
    checked, over = report.operators_over_limit()
    assert checked == 12 and over == ["Full: 1 / 0"]


def test_floor_inserts_one_lead_and_answers_201():
    request = RequestFactory().post(
        "/bench/floor/", json.dumps({"external_id": "floor-1-1", "message": "benchmark"}), "application/json"
    )
    response = floor(request)
    assert response.status_code == 201
    assert json.loads(response.content) == {"lead_id": Lead.objects.get(external_id="floor-1-1").pk}


def test_floor_is_post_only_and_mounted_at_floor():
    assert floor(RequestFactory().get("/bench/floor/")).status_code == 405
    assert not Lead.objects.exists()
    assert resolve("/floor/", urlconf="bench.urls").func is floor


def test_wrk_result_line_is_parsed_from_its_output():
    stdout = (
        "Running 1s test @ http://127.0.0.1:1/api/contacts/\n"
        'BENCH_RESULT {"duration_us": 2000000, "requests": 300, "p50_us": 1500, "p95_us": 4000, '
        '"p99_us": 9000, '
        '"non_2xx": 2, "status_5xx": 1, "socket_errors": 3, "statuses": {"5xx": 1, "2xx": 298, "4xx": 1}}\n'
        "Requests/sec: 150.0\n"
    )
    result = load.parse_wrk_output(stdout)
    assert (result.requests, result.rps, result.p50_ms, result.p99_ms) == (300, 150.0, 1.5, 9.0)
    assert (result.non_2xx, result.status_5xx, result.socket_errors, result.errors) == (2, 1, 3, 5)
    assert list(result.statuses) == ["2xx", "4xx", "5xx"]


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert [load.percentile(values, p) for p in (50, 95, 99, 100)] == [50.0, 95.0, 99.0, 100.0]
    assert load.percentile([], 50) == 0.0


@pytest.fixture
def webhook_source(settings):
    # The live server speaks plain HTTP; with DEBUG off the suite would otherwise redirect to https.
    settings.SECURE_SSL_REDIRECT = False
    source = SourceFactory()
    WeightFactory(source=source, operator=OperatorFactory(load_limit=100_000))
    return source


@pytest.mark.django_db(transaction=True)
def test_python_client_posts_unique_contacts_and_counts_them(live_server, webhook_source):
    result = load.run_python(
        url=f"{live_server.url}/api/contacts/",
        token=webhook_source.token,
        prefix="t",
        connections=2,
        duration=1,
    )
    assert result.requests > 0 and result.errors == 0
    assert result.statuses == {"2xx": result.requests}
    # Each thread finishes its request before it stops, so every answered request is one new lead + contact.
    assert Contact.objects.count() == Lead.objects.count() == result.requests
    assert 0 < result.p50_ms <= result.p95_ms <= result.p99_ms


@pytest.mark.skipif(not load.wrk_available(), reason="wrk is not installed")
@pytest.mark.django_db(transaction=True)
def test_wrk_script_posts_unique_contacts_and_reports_them(live_server, webhook_source):
    result = load.run_wrk(
        url=f"{live_server.url}/api/contacts/",
        token=webhook_source.token,
        prefix="w",
        connections=2,
        duration=1,
        threads=1,
    )
    assert result.requests > 0 and result.errors == 0 and result.status_5xx == 0
    # wrk stops with requests in flight that the server may still store; ids never repeat.
    assert Contact.objects.count() == Lead.objects.count() >= result.requests
    assert Lead.objects.filter(external_id__startswith="w-1-").exists()
