"""assign_contact against the database (one test transaction each; concurrency is in test_concurrency)."""

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Contact, Lead
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory
from distribution import sql
from distribution.intake import store_contact
from distribution.tests.sent import times_run

pytestmark = pytest.mark.django_db


def source_with(*operators, weights=None):
    source = SourceFactory()
    for i, operator in enumerate(operators):
        WeightFactory(source=source, operator=operator, weight=weights[i] if weights else 1)
    return source


def test_assigns_to_the_only_eligible_operator_and_stores_everything(rng):
    anna = OperatorFactory(name="Anna")
    source = source_with(anna)
    contact = store_contact(source=source, external_id="user123", name="Ivan", message="hi", rng=rng)
    contact.refresh_from_db()
    assert (contact.operator, contact.source, contact.message, contact.unassigned_reason) == (
        anna,
        source,
        "hi",
        "",
    )
    assert contact.lead.external_id == "user123" and contact.lead.name == "Ivan"
    assert contact.explanation["chosen"] == anna.pk
    assert contact.explanation["candidates"][0]["load"] == 0


def test_existing_lead_is_reused_and_renamed_only_by_a_non_empty_name(rng):
    source = source_with(OperatorFactory())
    lead = LeadFactory(external_id="user123", name="Ivan")
    first = store_contact(source=source, external_id="user123", rng=rng)
    second = store_contact(source=source, external_id="user123", name="Ivan Petrov", rng=rng)
    assert first.lead_id == second.lead_id == lead.pk
    assert Lead.objects.count() == 1
    lead.refresh_from_db()
    assert lead.name == "Ivan Petrov"
    assert lead.contacts.count() == 2


def test_limit_reached_exactly(rng):
    anna = OperatorFactory(load_limit=3)
    source = source_with(anna)
    contacts = [store_contact(source=source, external_id=f"c{i}", rng=rng) for i in range(5)]
    assert [c.operator_id for c in contacts] == [anna.pk] * 3 + [None] * 2
    assert contacts[3].unassigned_reason == "all_at_limit"
    assert contacts[3].explanation["candidates"][0]["excluded"] == "at_limit"


def test_window_boundaries_with_an_injected_now(settings, rng):
    settings.LOAD_WINDOW_HOURS = 24
    now = timezone.now()
    anna = OperatorFactory(load_limit=1)
    source = source_with(anna)
    ContactFactory(operator=anna, created_at=now - timedelta(hours=24, seconds=1))  # just outside
    assert store_contact(source=source, external_id="a", now=now, rng=rng).operator == anna
    later = now + timedelta(hours=24) - timedelta(seconds=1)  # the contact above is just inside
    assert store_contact(source=source, external_id="b", now=later, rng=rng).operator is None
    assert (
        store_contact(source=source, external_id="c", now=now + timedelta(hours=24), rng=rng).operator == anna
    )


def test_window_length_comes_from_settings(settings, rng):
    settings.LOAD_WINDOW_HOURS = 1
    now = timezone.now()
    anna = OperatorFactory(load_limit=1)
    ContactFactory(operator=anna, created_at=now - timedelta(minutes=61))
    assert store_contact(source=source_with(anna), external_id="a", now=now, rng=rng).operator == anna


def test_inactive_full_and_unweighted_operators_get_nothing(rng):
    active = OperatorFactory(load_limit=100)
    inactive = OperatorFactory(is_active=False)
    full = OperatorFactory(load_limit=1)
    ContactFactory(operator=full)
    OperatorFactory()  # no weight row for the source
    source = source_with(active, inactive, full, weights=[1, 100, 100])
    operators = {store_contact(source=source, external_id=f"c{i}", rng=rng).operator_id for i in range(30)}
    assert operators == {active.pk}


def test_full_pick_is_redrawn_and_explained(rng):
    full = OperatorFactory(name="Full", load_limit=2)
    ContactFactory.create_batch(2, operator=full)
    free = OperatorFactory(name="Free")
    source = source_with(full, free, weights=[1_000_000, 1])
    contact = store_contact(source=source, external_id="x", rng=rng)
    assert contact.operator == free
    assert contact.explanation["draws"] == [full.pk, free.pk]
    rows = {c["operator_id"]: c for c in contact.explanation["candidates"]}
    assert (rows[full.pk]["excluded"], rows[full.pk]["load"], rows[full.pk]["p"]) == ("at_limit", 2, 0)
    assert rows[free.pk]["p"] == 1.0


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda: SourceFactory(), "no_operators"),
        (
            lambda: source_with(OperatorFactory(is_active=False), OperatorFactory(is_active=False)),
            "all_inactive",
        ),
        (
            lambda: source_with(OperatorFactory(load_limit=0), OperatorFactory(is_active=False)),
            "all_at_limit",
        ),
    ],
)
def test_nobody_eligible_stores_the_contact_with_a_reason(setup, reason, rng):
    contact = store_contact(source=setup(), external_id="x", rng=rng)
    contact.refresh_from_db()
    assert contact.operator is None and contact.unassigned_reason == reason
    assert contact.explanation["reason"] == reason


def test_weights_hold_through_the_service(rng):
    ops = [OperatorFactory(load_limit=10_000) for _ in range(3)]
    source = source_with(*ops, weights=[1, 2, 3])
    counts = Counter(
        store_contact(source=source, external_id=f"c{i}", rng=rng).operator_id for i in range(3_000)
    )
    expected = {ops[0].pk: 500, ops[1].pk: 1_000, ops[2].pk: 1_500}
    assert sum((counts[k] - e) ** 2 / e for k, e in expected.items()) < 13.82  # df=2, p=0.001


def test_load_is_exact_and_read_in_one_statement_with_the_lock(settings, rng, django_assert_max_num_queries):
    settings.LOAD_WINDOW_HOURS = 24
    now = timezone.now()
    anna = OperatorFactory(load_limit=41)
    for minutes in range(0, 24 * 60, 36):  # 40 contacts spread over the whole window
        ContactFactory(operator=anna, created_at=now - timedelta(minutes=minutes))
    ContactFactory.create_batch(3, operator=anna, created_at=now - timedelta(hours=24, minutes=1))  # outside
    source = source_with(anna)

    # Upsert, lock and count (one round trip on PostgreSQL), insert, plus the test transaction's savepoints.
    with django_assert_max_num_queries(8) as captured:
        first = store_contact(source=source, external_id="x", now=now, rng=rng)
    second = store_contact(source=source, external_id="y", now=now, rng=rng)

    assert first.explanation["candidates"][0]["load"] == 40 and first.operator == anna
    assert second.operator is None and second.explanation["candidates"][0]["load"] == 41
    counted = sql.weight_and_load(source_id=source.pk, operator_id=anna.pk, since=now)
    assert times_run(captured.captured_queries, counted) == 1
    # The hourly totals (crm.models.LoadHour) and the window's first hour contact by contact
    # (distribution/tests/test_load_hours.py).
    assert '"crm_loadhour"' in counted.sql


def test_a_failed_write_leaves_nothing_behind(rng):
    source = source_with(OperatorFactory())
    store_contact(source=source, external_id="first", idempotency_key="k", rng=rng)
    # The contact's INSERT, the last write, breaks the unique idempotency key: the lead goes with it.
    with pytest.raises(IntegrityError), transaction.atomic():
        store_contact(source=source, external_id="never-stored", idempotency_key="k", rng=rng)
    assert not Lead.objects.filter(external_id="never-stored").exists()
    assert Contact.objects.count() == 1


def test_default_randomness_is_not_the_global_generator(monkeypatch):
    monkeypatch.setattr(random, "choices", lambda *a, **k: pytest.fail("global random used"))
    source = source_with(OperatorFactory(), OperatorFactory())
    assert store_contact(source=source, external_id="x").operator is not None


def test_explanation_is_shown_on_the_contact_admin_page(admin_client, rng):
    full = OperatorFactory(name="Full Fiona", load_limit=0)
    free = OperatorFactory(name="Free Fred")
    contact = store_contact(source=source_with(full, free, weights=[1, 3]), external_id="x", rng=rng)
    page = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/").text
    assert "Free Fred got it: the only operator who could take it." in page
    assert "Left out: Full Fiona (at the load limit)." in page
    assert "<br>" not in page.split("explanation-table")[1].split("</table>")[0]


def test_the_stored_explanation_reads_back_as_decided(rng):
    # Written by pydantic's serializer on PostgreSQL (sql.insert_contact): the same JSON value as the ORM.
    names = ["Анна «Ночь»", 'Quote " and \\ back', "Émile 😀"]
    operators = [OperatorFactory(name=name, load_limit=7) for name in names]
    contact = store_contact(source=source_with(*operators, weights=[1, 2, 4]), external_id="x", rng=rng)
    stored = Contact.objects.get(pk=contact.pk).explanation
    assert stored == contact.explanation
    assert [c["name"] for c in stored["candidates"]] == names
    assert {c["p"] for c in stored["candidates"]} == {0.1429, 0.2857, 0.5714}


def test_an_operator_deleted_since_the_route_was_read_is_simply_not_a_candidate(rng):
    """The route (candidates) was read before the operator was deleted; the draw lands on it, the lock reads
    nothing, and it drops out, on SQLite as on PostgreSQL (no LIMIT NULL in the load's count)."""
    from distribution.routes import source_route

    anna, gone = OperatorFactory(name="Anna"), OperatorFactory(name="Gone")
    source = source_with(anna, gone, weights=[1, 10_000])
    route = source_route(source.pk)
    gone_id = gone.pk
    gone.delete()
    contact = store_contact(source=source, external_id="x", route=route, rng=rng)
    assert contact.operator == anna
    left_out = {c["operator_id"]: c["excluded"] for c in contact.explanation["candidates"]}
    assert left_out[gone_id] is not None and left_out[anna.pk] is None
    # The draw landed on it and counted it: a load of 0 (None would say it was never counted).
    assert next(c["load"] for c in contact.explanation["candidates"] if c["operator_id"] == gone_id) == 0
