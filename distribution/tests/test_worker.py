"""The worker (distribution.worker, `manage.py run_worker`): every timed job at its time, driven by an
injected clock; its deadlines are columns, so nothing is lost between passes; two workers never do a job
twice; and presence changes racing the intake never let a contact through to someone already gone."""

import random
import threading
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from crm.choices import AwayReason, Presence, UnassignedReason
from crm.history import WORKER
from crm.models import Contact, Operator, WorkerBeat
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory
from distribution import capacity, schedules, worker
from distribution.intake import store_contact

pytestmark = pytest.mark.django_db

SECOND = timedelta(seconds=1)
MONDAY_9_BERLIN = datetime(2026, 12, 7, 8, tzinfo=UTC)  # 09:00 in Berlin (UTC+1 in winter)
MONDAY_18_BERLIN = datetime(2026, 12, 7, 17, tzinfo=UTC)


def source_with(*operators):
    source = SourceFactory()
    for operator in operators:
        WeightFactory(source=source, operator=operator)
    return source


def arrive(source, n: int, *, now: datetime) -> list[Contact]:
    return [
        store_contact(
            source=source, external_id=f"{source.pk}-{now:%H%M%S}-{i}", now=now, rng=random.Random(i)
        )
        for i in range(n)
    ]


def away_until(operator, until: datetime, *, now: datetime) -> None:
    capacity.update_operator(
        operator=operator,
        presence=Presence.AWAY,
        presence_reason=AwayReason.LUNCH,
        presence_until=until,
        now=now,
    )


def test_back_at_its_time_and_not_a_second_before_with_the_waiting_contacts_routed():
    now = timezone.now()
    back = now + timedelta(minutes=30)
    anna = OperatorFactory(name="Anna", load_limit=5)
    away_until(anna, back, now=now)
    source = source_with(anna)
    waiting = arrive(source, 3, now=now)
    assert {c.unassigned_reason for c in waiting} == {UnassignedReason.NOBODY_AVAILABLE}

    early = worker.run_once(now=back - SECOND)
    assert early.returned == 0 and Operator.objects.get(pk=anna.pk).presence == Presence.AWAY
    assert Contact.objects.filter(operator=None).count() == 3

    done = worker.run_once(now=back)
    anna.refresh_from_db()
    assert (anna.presence, anna.presence_reason, anna.presence_until) == (Presence.AVAILABLE, "", None)
    assert done.returned == 1 and done.assigned == 3 and done.still_waiting == 0
    assert Contact.objects.filter(operator=anna, assigned_at=back).count() == 3
    # In the history as the worker's doing, from away (lunch) to available.
    latest = anna.history.first()
    assert (latest.presence, latest.history_change_reason, latest.history_user) == (
        Presence.AVAILABLE,
        WORKER,
        None,
    )
    assert latest.prev_record.presence_reason == AwayReason.LUNCH
    # Nothing is done twice: the next pass finds nobody due.
    assert worker.run_once(now=back + SECOND).returned == 0
    assert anna.history.count() == 3  # created, away, back


def test_a_return_time_missed_while_no_worker_ran_is_done_by_the_next_pass():
    """The deadline is a column: a worker started late (a restart, a deploy) still finds it."""
    now = timezone.now()
    anna = OperatorFactory()
    away_until(anna, now + timedelta(minutes=5), now=now)
    assert worker.run_once(now=now + timedelta(hours=3)).returned == 1
    assert Operator.objects.get(pk=anna.pk).presence == Presence.AVAILABLE


def test_someone_who_came_back_by_hand_is_left_alone():
    now = timezone.now()
    anna = OperatorFactory()
    away_until(anna, now + timedelta(minutes=5), now=now)
    capacity.update_operator(operator=anna, presence=Presence.AVAILABLE, now=now + SECOND)
    records = anna.history.count()
    assert worker.run_once(now=now + timedelta(minutes=6)).returned == 0
    assert anna.history.count() == records


def test_a_shift_start_routes_the_waiting_contacts_and_its_end_finds_the_next_shift():
    anna = OperatorFactory(name="Anna", timezone="Europe/Berlin", load_limit=10)
    sunday = MONDAY_9_BERLIN - timedelta(hours=20)
    schedules.set_schedule(
        operator=anna,
        intervals=[schedules.Interval(d, time(9), time(18)) for d in range(5)],
        exceptions=[],
        now=sunday,
    )
    source = source_with(anna)
    waiting = arrive(source, 4, now=sunday)
    assert {c.unassigned_reason for c in waiting} == {UnassignedReason.NOBODY_ON_SHIFT}

    before = worker.run_once(now=MONDAY_9_BERLIN - SECOND)
    assert (before.shifts, before.assigned) == (0, 0)
    at_nine = worker.run_once(now=MONDAY_9_BERLIN)
    assert (at_nine.shifts, at_nine.assigned) == (1, 4)
    assert Contact.objects.filter(operator=anna, assigned_at=MONDAY_9_BERLIN).count() == 4
    anna.refresh_from_db()
    assert anna.shift_due_at == MONDAY_18_BERLIN  # the worker looks again at the end

    at_six = worker.run_once(now=MONDAY_18_BERLIN)
    anna.refresh_from_db()
    assert at_six.shifts == 1
    assert anna.shift_starts_at == anna.shift_due_at == MONDAY_9_BERLIN + timedelta(days=1)
    late = arrive(source, 1, now=MONDAY_18_BERLIN)[0]
    assert late.unassigned_reason == UnassignedReason.NOBODY_ON_SHIFT


def test_the_pass_drains_the_queue_and_leaves_a_heartbeat():
    anna = OperatorFactory(load_limit=0)
    source = source_with(anna)
    arrive(source, 2, now=timezone.now())
    Operator.objects.filter(pk=anna.pk).update(load_limit=5)  # capacity added behind the services' back
    done = worker.run_once(name="host-a:1")
    assert done.assigned == 2 and done.still_waiting == 0
    beat = WorkerBeat.objects.get(worker="host-a:1")
    assert timezone.now() - beat.last_pass_at < timedelta(seconds=5)


def test_run_worker_once_does_one_pass_and_says_what_it_did():
    now = timezone.now()
    anna = OperatorFactory()
    away_until(anna, now + timedelta(seconds=1), now=now)
    Operator.objects.filter(pk=anna.pk).update(presence_until=now - SECOND)  # its time has come
    out = StringIO()
    call_command("run_worker", "--once", stdout=out)
    assert (
        out.getvalue().strip()
        == "returned=1 shifts=0 expired=0 assigned=0 still_waiting=0\ndelivered=0 retried=0 failed=0"
    )
    assert Operator.objects.get(pk=anna.pk).presence == Presence.AVAILABLE


# --- Several at once (real transactions, real threads) ----------------------------------------------


def at_once(n: int, work) -> list:
    barrier, results, errors = threading.Barrier(n), [None] * n, []

    def task(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[i] = work(i)
        except Exception as exc:  # re-raised below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=task, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_return_each_operator_once_and_assign_each_contact_once():
    now = timezone.now()
    back = now + timedelta(minutes=1)
    operators = [OperatorFactory(load_limit=2) for _ in range(40)]
    for operator in operators:
        away_until(operator, back, now=now)
    source = source_with(*operators)
    arrive(source, 100, now=now)

    passes = at_once(2, lambda i: worker.run_once(now=back, name=f"worker-{i}"))
    assert sum(p.returned for p in passes) == 40
    returned_by = Counter(
        Operator.history.model.objects.filter(history_change_reason=WORKER).values_list("id", flat=True)
    )
    assert returned_by == {op.pk: 1 for op in operators}  # each by one worker, once
    per_operator = Counter(Contact.objects.exclude(operator=None).values_list("operator_id", flat=True))
    assert per_operator == {op.pk: 2 for op in operators}  # full, never over
    assert sum(p.assigned for p in passes) == 80
    assert Contact.objects.filter(operator=None).count() == 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_contact_goes_to_someone_whose_going_offline_has_committed():
    """Posts race an operator going offline (and another's shift being taken away): once the change has
    committed, no contact whose transaction locks after it may go to them, even on a route read before it
    (presence and shift are re-read with the limit under the lock)."""
    leaving = OperatorFactory(load_limit=10_000)
    unscheduled = OperatorFactory(load_limit=10_000)
    staying = OperatorFactory(load_limit=10_000)
    source = SourceFactory()
    WeightFactory(source=source, operator=leaving, weight=50)
    WeightFactory(source=source, operator=unscheduled, weight=50)
    WeightFactory(source=source, operator=staying, weight=1)
    from distribution.routes import source_route

    stale = source_route(source.pk)
    changed_at, posting, committed = [], threading.Barrier(8), threading.Event()

    def work(i: int):
        if i:
            for n in range(5):
                store_contact(
                    source=source, external_id=f"b-{i}-{n}", route=stale, rng=random.Random(i * 10 + n)
                )
        posting.wait(timeout=20)
        if i == 0:
            capacity.update_operator(operator=leaving, presence=Presence.OFFLINE)
            # A schedule with no interval now (a day off today, and every day): off shift at once.
            today = timezone.localdate()
            schedules.set_schedule(
                operator=unscheduled,
                intervals=[],
                exceptions=[schedules.DateRange(today - timedelta(days=1), today + timedelta(days=2))],
            )
            changed_at.append(timezone.now())
            committed.set()
            return None
        committed.wait(timeout=20)
        for n in range(15):
            store_contact(
                source=source, external_id=f"c-{i}-{n}", route=stale, rng=random.Random(i * 100 + n)
            )
        return None

    at_once(8, work)
    (changed,) = changed_at
    late = Contact.objects.filter(created_at__gt=changed)
    assert late.count() == 7 * 15
    assert not late.filter(operator__in=[leaving, unscheduled]).exists()
    assert set(late.values_list("operator_id", flat=True)) == {staying.pk}
    early = Contact.objects.filter(created_at__lt=changed)
    assert early.filter(operator=leaving).exists() and early.filter(operator=unscheduled).exists()


def test_an_operator_found_due_but_changed_meanwhile_is_left_alone(monkeypatch):
    """The due rows are read without locks; under the lock each is checked again, so a lunch extended (or
    a return time moved) between the two reads is not cut short."""
    now = timezone.now()
    anna = OperatorFactory()
    away_until(anna, now + timedelta(hours=1), now=now)  # extended: no longer due at `now`
    monkeypatch.setattr(
        worker, "_due", lambda deadline, now: [anna.pk] if deadline == "presence_until" else []
    )
    assert worker.run_once(now=now).returned == 0
    assert Operator.objects.get(pk=anna.pk).presence == Presence.AWAY
