"""Real transactions on real connections: threads assigning at the same moment.

Each thread has its own database connection (Django's are per thread). The tests run on both engines:
PostgreSQL proves the row locks, SQLite proves the serialised (BEGIN IMMEDIATE) write transactions.
"""

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from crm.models import Contact, Lead, Operator
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory
from distribution.intake import store_contact

pytestmark = pytest.mark.django_db(transaction=True)


def run_at_once(n: int, work) -> list:
    """Run work(i) in n threads released together by a barrier; re-raise the first error."""
    barrier = threading.Barrier(n)

    def task(i: int):
        try:
            barrier.wait(timeout=60)
            return work(i)
        finally:
            connections.close_all()

    # PostgreSQL allows 100 connections here: leave the main thread's slot to the workers meanwhile.
    connection.close()
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(task, range(n)))


def test_hundred_parallel_assignments_never_exceed_any_limit():
    limits = [5, 3, 2, 0]
    operators = [OperatorFactory(load_limit=limit) for limit in limits]
    # Two sources sharing operators: draws land on full operators and must move on without deadlocks.
    bot, form = SourceFactory(), SourceFactory()
    for weight, operator in enumerate(operators, start=1):
        WeightFactory(source=bot, operator=operator, weight=weight)
        WeightFactory(source=form, operator=operator, weight=5 - weight)

    contacts = run_at_once(
        100,
        lambda i: store_contact(
            source=bot if i % 2 else form, external_id=f"customer-{i}", rng=random.Random(i)
        ),
    )

    assert len(contacts) == Contact.objects.count() == 100
    per_operator = Counter(Contact.objects.exclude(operator=None).values_list("operator_id", flat=True))
    assert per_operator == {op.pk: op.load_limit for op in operators if op.load_limit}
    assert sum(per_operator.values()) == sum(limits)  # capacity used exactly, never more
    assert Contact.objects.filter(operator=None, unassigned_reason="all_at_limit").count() == 100 - sum(
        limits
    )


def test_one_external_id_posted_thirty_times_at_once_makes_one_lead():
    source = SourceFactory()
    WeightFactory(source=source, operator=OperatorFactory(load_limit=100))

    contacts = run_at_once(
        30, lambda i: store_contact(source=source, external_id="same-customer", name=f"n{i}")
    )

    assert Lead.objects.count() == 1
    lead = Lead.objects.get()
    assert {c.lead_id for c in contacts} == {lead.pk}
    assert lead.contacts.count() == 30 == len({c.pk for c in contacts})


def test_many_leads_and_one_busy_operator_at_once():
    """Every contact of many concurrent customers lands exactly once, and the limit still holds."""
    anna = OperatorFactory(load_limit=7)
    source = SourceFactory()
    WeightFactory(source=source, operator=anna)

    run_at_once(40, lambda i: store_contact(source=source, external_id=f"lead-{i % 10}"))

    assert Lead.objects.count() == 10
    assert Contact.objects.count() == 40
    assert Contact.objects.filter(operator=anna).count() == 7


@pytest.mark.postgres
def test_only_the_drawn_operator_is_locked():
    """While another transaction holds operator A's row lock, a draw that lands on B completes at once."""
    held, busy_free = OperatorFactory(), OperatorFactory(load_limit=10)
    source = SourceFactory()
    WeightFactory(source=source, operator=held, weight=1)
    WeightFactory(source=source, operator=busy_free, weight=1_000_000)
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        from django.db import transaction

        try:
            with transaction.atomic():
                Operator.objects.select_for_update().filter(pk=held.pk).get()
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        contact = store_contact(source=source, external_id="x", rng=random.Random(7))
        assert contact.operator == busy_free
    finally:
        release.set()
        holder.join()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


def test_concurrent_retries_with_one_idempotency_key_store_one_contact():
    from django.test import Client

    source = SourceFactory()
    WeightFactory(source=source, operator=OperatorFactory(load_limit=100))

    def post(i: int):
        response = Client().post(
            "/api/contacts/",
            {"external_id": "user123", "message": "same delivery"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {source.token}",
            HTTP_IDEMPOTENCY_KEY="delivery-42",
        )
        return response.status_code, response.json()

    answers = run_at_once(30, post)

    assert Contact.objects.count() == 1
    contact = Contact.objects.get()
    statuses = Counter(status for status, _ in answers)
    assert statuses == {201: 1, 200: 29}
    assert all(body["contact_id"] == contact.pk for _, body in answers)


def test_no_contact_is_decided_on_a_removal_that_has_committed():
    """Posts race a supervisor removing an operator from the source: once the removal has committed, no
    contact that started after it may go to that operator (its weight is re-read under the lock)."""
    import threading

    from django.utils import timezone

    from distribution.routes import source_route

    leaving, staying = OperatorFactory(load_limit=1000), OperatorFactory(load_limit=1000)
    source = SourceFactory()
    WeightFactory(source=source, operator=leaving, weight=50)
    WeightFactory(source=source, operator=staying, weight=1)
    stale = source_route(source.pk)  # read before the removal, as a token check in flight
    removed_at, posting, removal_committed = [], threading.Barrier(8), threading.Event()

    def before_the_removal(i: int) -> None:
        for n in range(5):
            store_contact(source=source, external_id=f"b-{i}-{n}", route=stale, rng=random.Random(i * 10 + n))

    def work(i: int):
        if i:
            before_the_removal(i)
        posting.wait(timeout=20)  # every poster has stored some contacts on the stale route
        if i == 0:
            from crm.models import SourceOperatorWeight

            SourceOperatorWeight.objects.filter(source=source, operator=leaving).delete()
            removed_at.append(timezone.now())
            removal_committed.set()
            return None
        removal_committed.wait(timeout=20)  # then they go on, on the route read before it
        for n in range(15):
            store_contact(
                source=source, external_id=f"c-{i}-{n}", route=stale, rng=random.Random(i * 100 + n)
            )
        return None

    run_at_once(8, work)
    (removed,) = removed_at
    late = Contact.objects.filter(created_at__gt=removed)
    assert late.exists()  # the race really happened
    assert not late.filter(operator=leaving).exists()
    assert Contact.objects.filter(operator=leaving).exists()  # and before it, the operator did get contacts


@pytest.mark.postgres
def test_two_drains_and_webhooks_at_once_assign_each_contact_once_within_limits():
    from datetime import timedelta

    from django.utils import timezone

    from crm.tests.factories import ContactFactory
    from distribution.queue import drain

    operators = [OperatorFactory(load_limit=limit) for limit in (15, 10, 5)]
    source = SourceFactory()
    for operator in operators:
        WeightFactory(source=source, operator=operator)
    for i in range(60):
        ContactFactory(source=source, operator=None, created_at=timezone.now() - timedelta(minutes=60 - i))
    before = set(Contact.objects.values_list("pk", flat=True))

    def work(i: int):
        if i < 2:
            return drain(rng=random.Random(i))
        return store_contact(source=source, external_id=f"new-{i}", rng=random.Random(i))

    results = run_at_once(12, work)
    drained = [r for r in results[:2]]
    per_operator = Counter(Contact.objects.exclude(operator=None).values_list("operator_id", flat=True))
    assert per_operator == {op.pk: op.load_limit for op in operators}  # full, never over
    assert Contact.objects.count() == 70 and set(Contact.objects.values_list("pk", flat=True)) >= before
    # Each contact assigned once: the two drains' counts plus the webhooks' add up to the capacity.
    webhook_assigned = Contact.objects.exclude(pk__in=before).exclude(operator=None).count()
    assert sum(r.assigned for r in drained) + webhook_assigned == 30


@pytest.mark.postgres
def test_a_deadlock_is_retried_inside_the_service_not_surfaced():
    """Two connections lock two rows in opposite orders: PostgreSQL kills one transaction with a deadlock;
    `retrying` runs it again and both finish."""
    import threading

    from django.db import transaction

    from distribution.batching import retrying

    first, second = OperatorFactory(), OperatorFactory()
    attempts = Counter()
    both_hold_one = threading.Barrier(2)

    def work(i: int):
        order = [first.pk, second.pk] if i == 0 else [second.pk, first.pk]

        def transaction_body():
            attempts[i] += 1
            with transaction.atomic():
                for n, pk in enumerate(order):
                    Operator.objects.select_for_update().get(pk=pk)
                    if n == 0 and attempts[i] == 1:
                        both_hold_one.wait(timeout=10)  # each holds its first row before asking for the other
            return i

        return retrying(transaction_body)

    assert sorted(run_at_once(2, work)) == [0, 1]
    assert sum(attempts.values()) == 3  # exactly one of them was retried once
