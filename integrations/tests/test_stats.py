"""/api/v1/stats: the dashboard's numbers, from the dashboard's selectors."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm import selectors
from crm.tests.factories import ContactFactory, OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db


def test_stats_show_loads_shares_and_the_queue(reader, settings):
    settings.UNASSIGNED_MAX_AGE_HOURS = 72
    anna, boris = OperatorFactory(name="Anna", load_limit=4), OperatorFactory(name="Boris", load_limit=2)
    bot = SourceFactory(name="Bot")
    WeightFactory(source=bot, operator=anna, weight=3)
    WeightFactory(source=bot, operator=boris, weight=1)
    ContactFactory.create_batch(2, source=bot, operator=anna)
    ContactFactory.create_batch(2, source=bot, operator=boris)
    now = timezone.now()
    ContactFactory(source=bot, operator=None, created_at=now - timedelta(hours=100))
    ContactFactory(source=bot, operator=None, created_at=now - timedelta(minutes=5))

    body = reader.get("/api/v1/stats").json()

    operators = {o["name"]: o for o in body["operators"]}
    assert (operators["Anna"]["load"], operators["Anna"]["load_limit"], operators["Anna"]["is_full"]) == (
        2,
        4,
        False,
    )
    assert operators["Anna"]["load_percent"] == 50 and operators["Anna"]["share"] == 50.0
    assert operators["Boris"]["is_full"] and operators["Boris"]["load_percent"] == 100
    assert operators["Boris"]["frees_at"] is not None
    (source,) = body["sources"]
    assert source["id"] == bot.pk and source["assigned"] == 4 and source["free"] == 2
    shares = {row["name"]: row for row in source["operators"]}
    assert (shares["Anna"]["weight_share"], shares["Anna"]["actual_share"]) == (75.0, 50.0)
    assert (shares["Boris"]["weight_share"], shares["Boris"]["actual_share"]) == (25.0, 50.0)
    assert body["unassigned"]["count"] == 2 and body["unassigned"]["past_max_age"] == 1
    assert body["unassigned"]["max_age_hours"] == 72 and body["unassigned"]["oldest"] is not None
    assert body["window_hours"] == settings.LOAD_WINDOW_HOURS


def test_stats_are_the_dashboards_numbers(reader):
    """Same selectors as the staff dashboard: compare field by field for the same data."""
    anna = OperatorFactory(load_limit=3)
    bot, form = SourceFactory(), SourceFactory()
    WeightFactory(source=bot, operator=anna, weight=2)
    ContactFactory(source=bot, operator=anna)
    ContactFactory(source=form, operator=None)
    body = reader.get("/api/v1/stats").json()
    board = selectors.dashboard(now=timezone.now())
    assert [(o["id"], o["load"], o["load_limit"]) for o in body["operators"]] == [
        (row.operator.pk, row.load, row.operator.load_limit) for row in board.loads
    ]
    assert [(s["id"], s["assigned"], s["free"], s["waiting"]["count"]) for s in body["sources"]] == [
        (s.source.pk, s.assigned, s.free, s.waiting.count) for s in board.sources
    ]
    blocked = {s["id"]: s["blocked"] for s in body["sources"]}
    assert blocked == {bot.pk: None, form.pk: "no_operators"}
    assert body["unassigned"]["count"] == board.waiting.count == 1


def test_stats_of_an_empty_system(reader, settings):
    settings.UNASSIGNED_MAX_AGE_HOURS = 72
    body = reader.get("/api/v1/stats").json()
    assert body["operators"] == [] and body["sources"] == []
    assert body["unassigned"] == {"count": 0, "oldest": None, "past_max_age": 0, "max_age_hours": 72}


def test_stats_cost_a_fixed_number_of_queries(reader, django_assert_max_num_queries):
    reader.get("/api/v1/stats")  # the key's first-use stamp is not part of the cost
    for _ in range(2):
        operator, source = OperatorFactory(), SourceFactory()
        WeightFactory(source=source, operator=operator)
        ContactFactory.create_batch(3, source=source, operator=operator)
    with django_assert_max_num_queries(10):
        assert reader.get("/api/v1/stats").status_code == 200
