"""The dashboard: capacity per source up front, when the next slot frees, trends, and click-through."""

import random
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm import selectors
from crm.selectors.dashboard import SOURCES_PER_PAGE
from crm.tests.factories import ContactFactory, OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("staff", password="x", is_staff=True))
    return client


def overview(name: str, now=None):
    board = selectors.dashboard(now=now or timezone.now())
    return next(item for item in board.sources if item.source.name == name), board


def test_free_slots_are_the_sum_of_limit_minus_load_over_the_active_operators():
    source = SourceFactory(name="Bot")
    anna, boris = OperatorFactory(name="Anna", load_limit=5), OperatorFactory(name="Boris", load_limit=3)
    off = OperatorFactory(name="Off", load_limit=50, is_active=False)
    for op in (anna, boris, off):
        WeightFactory(source=source, operator=op)
    ContactFactory.create_batch(2, operator=anna)
    ContactFactory.create_batch(4, operator=boris)  # over the limit (an override): counts as 0, not -1
    item, _ = overview("Bot")
    assert item.free == 3 and item.blocked == ""
    assert item.next_free is None


def test_a_source_whose_operators_are_all_full_says_when_the_next_slot_frees(staff_client):
    now = timezone.now()
    source = SourceFactory(name="Site form")
    boris, vera = OperatorFactory(name="Boris", load_limit=2), OperatorFactory(name="Vera", load_limit=1)
    off = OperatorFactory(name="Gleb", is_active=False)
    for op in (boris, vera, off):
        WeightFactory(source=source, operator=op)
    # Boris: the oldest of his two frees first, 20 h ago + 24 h = in 4 h; Vera's frees in 10 h.
    ContactFactory(
        operator=boris, created_at=now - timedelta(hours=30), assigned_at=now - timedelta(hours=20)
    )
    ContactFactory(operator=boris, created_at=now - timedelta(hours=1))
    ContactFactory(operator=vera, created_at=now - timedelta(hours=14))
    ContactFactory(source=source, operator=None, created_at=now - timedelta(hours=2))

    item, board = overview("Site form", now)
    assert item.blocked == "all_at_limit" and item.free == 0
    assert [row.operator.name for row in item.full] == ["Boris", "Vera"]
    assert item.next_free.operator == boris
    assert item.next_free.frees_at == now - timedelta(hours=20) + timedelta(hours=24)
    assert item in board.blocked

    page = staff_client.get(reverse("dashboard")).text
    alert = page.split('class="alerts"')[1].split("</section>")[0]
    assert "Site form" in alert and "nobody can take contacts" in alert
    assert "every active operator is at the load limit" in alert
    assert "Full: Boris and Vera" in alert and "Switched off: Gleb" in alert
    assert "Boris can take contacts again at" in alert
    assert (
        f'href="{reverse("contact_list")}?source={source.pk}&amp;unassigned=1">1 contact waiting</a>' in alert
    )


def test_an_operator_over_the_limit_frees_a_slot_when_enough_of_its_assignments_have_left():
    now = timezone.now()
    source = SourceFactory(name="Bot")
    anna = OperatorFactory(name="Anna", load_limit=2)
    WeightFactory(source=source, operator=anna)
    # Three assigned, limit two (an override put her over): two must leave before she is below it again.
    times = [now - timedelta(hours=h) for h in (23, 10, 2)]
    for at in times:
        ContactFactory(operator=anna, created_at=at)
    item, _ = overview("Bot", now)
    assert item.next_free.frees_at == times[1] + timedelta(hours=24)


@pytest.mark.parametrize(
    "setup, reason, words",
    [
        (lambda source: None, "no_operators", "no operators configured for the source"),
        (
            lambda source: WeightFactory(source=source, operator=OperatorFactory(is_active=False)),
            "all_inactive",
            "every operator of the source is inactive",
        ),
        (
            lambda source: WeightFactory(source=source, operator=OperatorFactory(load_limit=0)),
            "all_at_limit",
            "every active operator is at the load limit",
        ),
    ],
)
def test_sources_nobody_can_take_contacts_from_are_flagged_in_plain_words(staff_client, setup, reason, words):
    source = SourceFactory(name="Phone line")
    setup(source)
    item, _ = overview("Phone line")
    assert item.blocked == reason
    page = staff_client.get(reverse("dashboard")).text
    assert "Phone line</a>: nobody can take contacts</strong>" in page and words in page


def test_waiting_contacts_per_source_with_the_oldest_and_those_past_the_max_age(staff_client, settings):
    settings.UNASSIGNED_MAX_AGE_HOURS = 72
    now = timezone.now()
    source = SourceFactory(name="Bot")
    ContactFactory(source=source, operator=None, created_at=now - timedelta(hours=80))
    ContactFactory(source=source, operator=None, created_at=now - timedelta(hours=1))
    ContactFactory(source=source)
    item, board = overview("Bot", now)
    assert (item.waiting.count, item.waiting.too_old) == (2, 1)
    assert item.waiting.oldest == now - timedelta(hours=80)
    assert board.waiting.too_old == 1
    page = staff_client.get(reverse("dashboard")).text
    assert "1 has waited longer than 72 hours" in page
    assert f'href="{reverse("contact_list")}?source={source.pk}&amp;unassigned=1">2</a>' in page


def test_arrivals_per_hour_and_per_day_split_assigned_from_waiting(staff_client):
    now = timezone.now()
    # The start of this hour: a minute ago is the last hour's during the first minute of every hour.
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    source = SourceFactory(name="Bot")
    ContactFactory.create_batch(2, source=source, created_at=this_hour)
    ContactFactory(source=source, operator=None, created_at=this_hour)
    ContactFactory(source=source, created_at=now - timedelta(days=3))
    ContactFactory(source=source, created_at=now - timedelta(days=40))  # older than the chart
    item, _ = overview("Bot", now)
    assert len(item.hours) == 24
    assert (item.hours[-1].assigned, item.hours[-1].unassigned) == (2, 1)
    assert sum(b.total for b in item.hours) == 3
    [trend] = [t for t in selectors.trends(now=now) if t.source == source]
    assert len(trend.hours) == 24 and len(trend.days) == 30
    assert (trend.days[-1].assigned, trend.days[-1].unassigned) == (2, 1)
    assert sum(b.total for b in trend.days) == 4

    dashboard = staff_client.get(reverse("dashboard")).text
    assert dashboard.count('<svg class="bar-chart"') == 1  # the last day; the month is on the Trends page
    assert "2 assigned, 1 waiting" in dashboard  # the bar's tooltip
    assert f'href="{reverse("trends")}"' in dashboard
    page = staff_client.get(reverse("trends")).text
    assert page.count('<svg class="bar-chart"') == 2 and "Per day, last 30 days" in page


def test_chart_coordinates_stay_numbers_in_any_language(staff_client, settings):
    settings.LANGUAGE_CODE = "de"  # a decimal comma would break the SVG's coordinates
    ContactFactory(source=SourceFactory(name="Bot"))
    page = staff_client.get(reverse("dashboard"), HTTP_ACCEPT_LANGUAGE="de").text
    svg = page.split('<svg class="bar-chart"')[1].split("</svg>")[0]
    numbers = re.findall(r' (?:x|y|width|height)="([^"]*)"', svg)
    assert numbers and all(float(n) >= 0 for n in numbers)  # "16,0" would raise


def test_each_operators_load_over_the_day_ends_with_the_load_now():
    now = timezone.now()
    anna = OperatorFactory(name="Anna", load_limit=5)
    ContactFactory(operator=anna, created_at=now - timedelta(hours=30))  # left the window 6 h ago
    ContactFactory(operator=anna, created_at=now - timedelta(hours=3))
    board = selectors.dashboard(now=now)
    [line] = board.load_lines
    loads = [load for _, load in line.points]
    assert len(loads) == 24 and loads[-1] == 1
    assert max(loads) == 1 and loads[0] == 1  # 23 h ago only the 30-h-old one counted
    assert loads[-5] == 0  # 4 h ago: the old one had left, the new one had not come


def test_every_name_and_number_on_the_dashboard_links_to_the_contacts_it_counts(staff_client):
    source = SourceFactory(name="Bot")
    anna = OperatorFactory(name="Anna")
    WeightFactory(source=source, operator=anna)
    ContactFactory(source=source, operator=anna)
    page = staff_client.get(reverse("dashboard")).text
    contacts = reverse("contact_list")
    assert f'href="{contacts}?operator={anna.pk}">Anna</a>' in page
    assert f'href="{contacts}?operator={anna.pk}">1 / 10</a>' in page
    assert f'href="{contacts}?source={source.pk}">Bot</a>' in page
    assert f'href="{contacts}?source={source.pk}&amp;operator={anna.pk}">Anna</a>' in page
    assert f'href="{reverse("queue")}">0</a>' in page


def test_an_operator_over_the_limit_is_marked_so_apart_from_full(staff_client, admin_client):
    from integrations.models import Scope
    from integrations.services import create_api_key

    over, full = OperatorFactory(name="Over", load_limit=2), OperatorFactory(name="Level", load_limit=2)
    ContactFactory.create_batch(3, operator=over)  # an override put her over the limit
    ContactFactory.create_batch(2, operator=full)
    rows = {row.operator.name: row for row in selectors.dashboard(now=timezone.now()).loads}
    assert (rows["Over"].is_full, rows["Over"].over_limit) == (True, True)
    assert (rows["Level"].is_full, rows["Level"].over_limit) == (True, False)

    page = staff_client.get(reverse("dashboard")).text
    over_row = page.split(f'?operator={over.pk}">Over</a>')[1].split("</tr>")[0]
    assert '3 / 2</a> <span class="badge badge-error">over the limit</span>' in over_row
    assert ">full<" not in over_row
    level_row = page.split(f'?operator={full.pk}">Level</a>')[1].split("</tr>")[0]
    assert ">full</span>" in level_row and "over the limit" not in level_row

    operators = admin_client.get(reverse("admin:crm_operator_changelist")).text
    assert "3 / 2 · over the limit" in operators and "2 / 2 · full" in operators
    # The API keeps its meaning: over the limit is full too (takes nothing now).
    _, key = create_api_key(name="bi", scope=Scope.READ)
    stats = staff_client.get("/api/v1/stats", headers={"Authorization": f"Bearer {key}"}).json()
    assert {o["name"]: o["is_full"] for o in stats["operators"]} == {"Over": True, "Level": True}


def test_the_operator_table_is_paged_and_searched_and_the_source_summary_stays_whole(staff_client):
    sources = SourceFactory.create_batch(3)
    for i in range(120):
        WeightFactory(source=sources[i % 3], operator=OperatorFactory(name=f"Op {i:03}"))
    WeightFactory(source=sources[0], operator=OperatorFactory(name="Anna Karenina"))
    url = reverse("dashboard")

    first = staff_client.get(url)
    board = first.context["board"]
    assert [row.operator.name for row in board.operators][:2] == ["Anna Karenina", "Op 000"]
    assert len(board.operators.object_list) == 50 and "1–50 of 121 operators" in first.text
    assert 'href="?op_page=2#load-title"' in first.text
    assert len(board.sources) == 3 and all(
        s.operators == 40 + (s.source == sources[0]) for s in board.sources
    )
    assert first.text.count('class="load-line"') == 50  # the page's operators only

    last = staff_client.get(url, {"op_page": 3}).context["board"].operators
    assert [row.operator.name for row in last][-1] == "Op 119" and len(last.object_list) == 21

    found = staff_client.get(url, {"op_q": "karen"})
    assert [row.operator.name for row in found.context["board"].operators] == ["Anna Karenina"]
    assert [s.source for s in found.context["board"].shares] == [sources[0]]
    assert "1 of its 41 operators shown" in found.text  # the share card says it shows a part

    of_source = staff_client.get(url, {"op_source": sources[1].pk, "op_q": "op 0"})
    names = [row.operator.name for row in of_source.context["board"].operators]
    assert names == [f"Op {i:03}" for i in range(1, 100, 3)]
    assert f"Operator load: operators of {sources[1].name}" in of_source.text
    assert "op_source=" in of_source.text and 'href="?op_source' in of_source.text
    assert staff_client.get(url, {"op_source": "x", "op_page": "y"}).status_code == 200


def test_the_summary_in_sql_agrees_with_the_operator_by_operator_overview():
    # The staff dashboard sums sources up in SQL; the API's overview goes operator by operator.
    now = timezone.now()
    rng = random.Random(20240601)
    sources = SourceFactory.create_batch(4)
    SourceFactory(name="Empty")
    for _ in range(30):
        operator = OperatorFactory(is_active=rng.random() > 0.2, load_limit=rng.randint(0, 4))
        for source in rng.sample(sources, rng.randint(1, 2)):
            WeightFactory(source=source, operator=operator, weight=rng.randint(1, 5))
        for _ in range(rng.randint(0, 5)):  # some over their limit, as an override leaves them
            ContactFactory(source=rng.choice(sources), operator=operator, created_at=now - timedelta(hours=1))
    overviews = {o.source.pk: o for o in selectors.dashboard(now=now).sources}
    summaries = selectors.source_summaries(now=now)
    assert len(summaries) == 5
    for summary in summaries:
        overview = overviews[summary.source.pk]
        assert (summary.free, summary.blocked, summary.operators) == (
            overview.free,
            overview.blocked,
            len(overview.operators),
        )
        if summary.blocked:
            assert [r.operator.pk for r in summary.full] == [r.operator.pk for r in overview.full]
            assert summary.next_free == overview.next_free


def test_the_dashboard_warns_when_no_worker_has_run_for_a_minute(staff_client):
    from crm.models import WorkerBeat

    page = staff_client.get(reverse("dashboard")).text
    assert "No worker has run yet" in page
    WorkerBeat.objects.create(worker="host:1", last_pass_at=timezone.now() - timedelta(seconds=61))
    WorkerBeat.objects.create(worker="host:2", last_pass_at=timezone.now() - timedelta(hours=2))
    page = staff_client.get(reverse("dashboard")).text
    assert "No worker has run since" in page and "run_worker" in page
    WorkerBeat.objects.filter(worker="host:1").update(last_pass_at=timezone.now() - timedelta(seconds=50))
    assert 'class="alert worker-silent"' not in staff_client.get(reverse("dashboard")).text


def test_a_source_counts_operators_on_shift_to_the_second_as_the_intake_does():
    """The dashboard's SQL (crm.eligibility.on_shift_q) and the intake's rule agree at both boundaries."""
    from datetime import UTC, datetime, time

    from crm.choices import UnassignedReason
    from distribution import schedules

    anna = OperatorFactory(name="Anna", timezone="Europe/Berlin")
    source = SourceFactory(name="Bot")
    WeightFactory(source=source, operator=anna)
    starts, ends = datetime(2026, 12, 7, 8, tzinfo=UTC), datetime(2026, 12, 7, 17, tzinfo=UTC)
    schedules.set_schedule(
        operator=anna, intervals=[schedules.Interval(0, time(9), time(18))], exceptions=[], now=starts
    )

    def summary(now):
        (found,) = [s for s in selectors.source_summaries(now=now) if s.source.pk == source.pk]
        return found

    second = timedelta(seconds=1)
    assert summary(starts - second).blocked == UnassignedReason.NOBODY_ON_SHIFT
    assert (summary(starts).on_shift, summary(starts).blocked) == (1, "")
    assert (summary(ends - second).on_shift, summary(ends - second).free) == (1, anna.load_limit)
    at_end = summary(ends)
    assert (at_end.on_shift, at_end.free, at_end.blocked) == (0, 0, UnassignedReason.NOBODY_ON_SHIFT)
    assert [row.operator.name for row in at_end.off_shift] == ["Anna"]


def test_the_source_table_is_paged_and_searched_and_who_answers_follows_its_page(staff_client):
    # 300 sources were 300 rows in each of two tables (capacity, who answers): a page of them at a time.
    now = timezone.now()
    count = SOURCES_PER_PAGE + 5
    sources = [SourceFactory(name=f"Source {n:03}") for n in range(SOURCES_PER_PAGE)]
    sources += [SourceFactory(name=f"Zeta {n}") for n in range(5)]  # the second page
    ContactFactory(source=sources[-1], operator=None)  # waiting on the last page: counted on every page
    url = reverse("dashboard")

    first = staff_client.get(url)
    board = first.context["board"]
    assert [s.source for s in board.source_page] == sources[:SOURCES_PER_PAGE]
    assert [source for source, _ in board.source_answers] == sources[:SOURCES_PER_PAGE]
    assert set(board.source_outcomes) <= {s.pk for s in sources[:SOURCES_PER_PAGE]}
    assert len(board.sources) == count and board.waiting.count == 1
    assert f"1–{SOURCES_PER_PAGE} of {count} sources" in first.text
    assert 'href="?src_page=2#capacity-title"' in first.text
    capacity = first.text.split('id="capacity-title"')[1].split('id="load-title"')[0]
    assert capacity.count('<th scope="row"') == SOURCES_PER_PAGE
    assert sources[-1].name not in capacity

    # The other table keeps its page: the operator table's ?op_page= stays in the source table's links.
    kept = staff_client.get(url, {"op_page": 2}).text
    assert 'href="?op_page=2&amp;src_page=2#capacity-title"' in kept

    second = staff_client.get(url, {"src_page": 2}).context["board"]
    assert [s.source for s in second.source_page] == sources[SOURCES_PER_PAGE:]
    assert [source for source, _ in second.source_answers] == sources[SOURCES_PER_PAGE:]

    found = staff_client.get(url, {"src_q": "ZETA"})
    assert [s.source for s in found.context["board"].source_page] == sources[SOURCES_PER_PAGE:]
    assert "1–5 of 5 sources" in found.text
    nothing = staff_client.get(url, {"src_q": "nowhere"})
    assert "No source matches." in nothing.text and nothing.context["board"].waiting.count == 1
    # A page number past the end shows the last page, as the operator table does.
    assert staff_client.get(url, {"src_page": "99"}).context["board"].source_page.number == 2
    assert selectors.dashboard_page(now=now, source_page="x").source_page.number == 1
