"""Numbers the database cannot store, and objects deleted while a request works on them: 4xx, never a 500."""

import threading

import pytest
from django.db import connection
from django.urls import reverse

from crm import services
from crm.models import INT_MAX, Operator, Source, SourceOperatorWeight
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory, operator_admin_form
from distribution import capacity
from integrations.tests.conftest import client_with

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("weight", [INT_MAX + 1, 2**63, 2**64])
def test_a_weight_beyond_the_columns_range_is_a_400_naming_it(writer, weight):
    anna, bot = OperatorFactory(), SourceFactory()
    response = writer.put(
        f"/api/v1/sources/{bot.pk}/weights", {"weights": [{"operator_id": anna.pk, "weight": weight}]}
    )
    assert response.status_code == 400 and "weights.0.weight" in response.json()["errors"]
    assert not SourceOperatorWeight.objects.exists()


def test_the_largest_storable_weight_and_limit_are_taken(writer):
    anna, bot = OperatorFactory(), SourceFactory()
    response = writer.put(
        f"/api/v1/sources/{bot.pk}/weights", {"weights": [{"operator_id": anna.pk, "weight": INT_MAX}]}
    )
    assert response.status_code == 200 and bot.weights.get().weight == INT_MAX
    assert writer.patch(f"/api/v1/operators/{anna.pk}", {"load_limit": INT_MAX}).status_code == 200
    assert Operator.objects.get(pk=anna.pk).load_limit == INT_MAX


@pytest.mark.parametrize("limit", [INT_MAX + 1, 2**63])
def test_a_load_limit_beyond_the_columns_range_is_a_400_naming_it(writer, limit):
    anna = OperatorFactory(load_limit=5)
    assert writer.post("/api/v1/operators", {"name": "Boris", "load_limit": limit}).json()[
        "errors"
    ].keys() == {"load_limit"}
    response = writer.patch(f"/api/v1/operators/{anna.pk}", {"load_limit": limit})
    assert response.status_code == 400 and "load_limit" in response.json()["errors"]
    assert Operator.objects.get(pk=anna.pk).load_limit == 5


def test_the_service_and_the_admin_refuse_the_same_numbers(admin_client):
    anna, bot = OperatorFactory(name="Anna"), SourceFactory()
    with pytest.raises(Exception) as refused:
        capacity.set_weights(source=bot, weights={anna.pk: INT_MAX + 1})
    assert "weights" in refused.value.message_dict
    response = admin_client.post(
        reverse("admin:crm_operator_change", args=[anna.pk]),
        operator_admin_form(anna, load_limit=INT_MAX + 1),
    )
    assert response.status_code == 200 and "errornote" in response.text
    assert Operator.objects.get(pk=anna.pk).load_limit == anna.load_limit


def test_a_source_deleted_after_it_was_found_is_404_not_500(writer, monkeypatch):
    from integrations.api import sources as api

    anna, bot = OperatorFactory(), SourceFactory()
    found = api.get_or_404

    def found_then_deleted(queryset, pk, what):
        obj = found(queryset, pk, what)
        if what == "source":
            Source.objects.filter(pk=pk).delete()
        return obj

    monkeypatch.setattr(api, "get_or_404", found_then_deleted)
    assert writer.get(f"/api/v1/sources/{bot.pk}").status_code == 404
    other = SourceFactory()
    response = writer.put(
        f"/api/v1/sources/{other.pk}/weights", {"weights": [{"operator_id": anna.pk, "weight": 1}]}
    )
    assert response.status_code == 404 and not SourceOperatorWeight.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sources_deleted_while_they_are_read_and_written_answer_404_never_500(write_key):
    """A supervisor keeps deleting and re-creating sources (as the admin does) while integrations GET and
    PUT them."""
    operators = [OperatorFactory() for _ in range(3)]
    names = [f"Racing source {n}" for n in range(4)]
    stop, statuses, errors = threading.Event(), [], []

    def churn() -> None:
        try:
            while not stop.is_set():
                for name in names:
                    services.delete_sources(sources=Source.objects.filter(name=name))  # as the admin deletes
                    WeightFactory(source=SourceFactory(name=name), operator=operators[0])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def use() -> None:
        client = client_with(write_key[1])
        try:
            for n in range(60):
                ids = list(Source.objects.filter(name__in=names).values_list("pk", flat=True)) or [1]
                source_id = ids[n % len(ids)]
                statuses.append(client.get(f"/api/v1/sources/{source_id}").status_code)
                weights = [{"operator_id": op.pk, "weight": 1 + n % 3} for op in operators]
                statuses.append(
                    client.put(f"/api/v1/sources/{source_id}/weights", {"weights": weights}).status_code
                )
        finally:
            connection.close()

    for name in names:
        SourceFactory(name=name)
    churner = threading.Thread(target=churn)
    users = [threading.Thread(target=use) for _ in range(3)]
    churner.start()
    for thread in users:
        thread.start()
    for thread in users:
        thread.join(timeout=120)
    stop.set()
    churner.join(timeout=30)
    assert not errors
    assert set(statuses) <= {200, 404} and 404 in statuses and 200 in statuses, sorted(set(statuses))
