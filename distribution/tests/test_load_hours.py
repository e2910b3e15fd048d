"""The hourly load totals (crm.models.LoadHour): kept right by the database's triggers through every kind of
write to a contact, and the load the intake reads from them (distribution.sql) the same number as counting
the contacts themselves (crm.eligibility.in_window), at the window's edges too."""

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from crm.choices import ContactState, UnassignedReason
from crm.eligibility import WINDOW_LOOKUP, epoch_hour, whole_hours_after, window_start
from crm.models import Contact, LoadHour
from crm.tests.factories import ContactFactory, OperatorFactory, SourceFactory, WeightFactory
from distribution import db, sql

pytestmark = pytest.mark.django_db

# A moment a little after an hour starts, so that windows may start on either side of the hour.
NOW = datetime(2026, 3, 29, 14, 0, 7, 250000, tzinfo=UTC)


def counted(operator, since: datetime) -> int:
    """The load by definition: the operator's contacts assigned after `since`, kept to its limit."""
    rows = Contact.objects.filter(operator=operator, **{f"assigned_at__{WINDOW_LOOKUP}": since}).count()
    return min(rows, operator.load_limit)


def read(source, operator, since: datetime) -> tuple[int, int]:
    """The load as the intake reads it: under the lock (weight_and_load) and for all at once (loads)."""
    [(_, _, locked)] = db.fetch_all(
        sql.weight_and_load(source_id=source.pk, operator_id=operator.pk, since=since)
    )
    together = dict(db.fetch_all(sql.loads(source_id=source.pk, since=since)))[operator.pk]
    return locked, together


def totals() -> dict[tuple[int, int], int]:
    """What the triggers keep, without the hours emptied by moves (a total of 0 counts nothing)."""
    return {(h.operator_id, h.hour): h.given for h in LoadHour.objects.all() if h.given}


def recount() -> dict[tuple[int, int], int]:
    """The totals counted from the contacts now."""
    rows = Contact.objects.exclude(operator=None).values_list("operator_id", "assigned_at")
    result: dict[tuple[int, int], int] = {}
    for operator_id, assigned_at in rows:
        key = (operator_id, epoch_hour(assigned_at))
        result[key] = result.get(key, 0) + 1
    return result


def assign(contact: Contact, operator, at: datetime | None) -> None:
    """Move a contact as the services do (operator, time and state change together; see the constraints)."""
    if operator is None:
        contact.operator, contact.assigned_at = None, None
        contact.state, contact.unassigned_reason = ContactState.WAITING, UnassignedReason.ALL_AT_LIMIT
    else:
        contact.operator, contact.assigned_at = operator, at
        contact.state, contact.unassigned_reason = ContactState.ASSIGNED, ""
    contact.save(update_fields=["operator", "assigned_at", "state", "unassigned_reason"])


def test_the_totals_follow_inserts_moves_and_deletes():
    anna, boris = OperatorFactory(), OperatorFactory()
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    first = ContactFactory(operator=anna, created_at=hour - timedelta(minutes=1))
    second = ContactFactory(operator=anna, created_at=hour)  # on the hour: the next hour's
    waiting = ContactFactory(operator=None, created_at=hour)
    assert totals() == {(anna.pk, epoch_hour(hour) - 1): 1, (anna.pk, epoch_hour(hour)): 1}

    assign(first, boris, hour + timedelta(minutes=5))  # moved to another operator and hour
    assign(waiting, anna, hour + timedelta(minutes=6))  # a waiting contact given
    assign(second, None, None)  # given back to the queue
    assert totals() == recount() == {(boris.pk, epoch_hour(hour)): 1, (anna.pk, epoch_hour(hour)): 1}

    Contact.objects.filter(pk=waiting.pk).update(assigned_at=hour - timedelta(hours=3))  # a bulk update
    first.delete()
    assert totals() == recount() == {(anna.pk, epoch_hour(hour) - 3): 1}


def test_a_save_that_changes_neither_operator_nor_time_changes_no_total():
    anna = OperatorFactory()
    contact = ContactFactory(operator=anna, created_at=NOW)
    contact.message = "edited"
    contact.save()  # every column written again, operator and assigned_at included
    Contact.objects.filter(pk=contact.pk).update(operator=anna, assigned_at=NOW)
    assert totals() == {(anna.pk, epoch_hour(NOW)): 1}


@pytest.mark.parametrize("seed", range(4))
def test_the_load_read_from_the_totals_is_the_load_counted_from_the_contacts(seed):
    rng = random.Random(seed)
    source = SourceFactory()
    operators = [OperatorFactory(load_limit=limit) for limit in (1_000, 1_000, 7)]
    for operator in operators:
        WeightFactory(source=source, operator=operator)
    # The moments that decide: the window's start now and an hour on each side, whole hours around it.
    since = window_start(NOW)
    edges = [since, whole_hours_after(since), whole_hours_after(since) - timedelta(hours=1)]
    edges += [moment + timedelta(microseconds=delta) for moment in edges[:] for delta in (-1, 1)]
    contacts = []
    for _ in range(60):
        at = rng.choice(edges) if rng.random() < 0.4 else NOW - timedelta(seconds=rng.uniform(0, 30 * 3600))
        contacts.append(ContactFactory(source=source, operator=rng.choice([*operators, None]), created_at=at))
    for contact in rng.sample(contacts, 25):  # moves, returns to the queue, and deletions
        action = rng.random()
        if action < 0.2:
            contact.delete()
        else:
            moved_at = rng.choice(edges) if rng.random() < 0.5 else contact.created_at
            assign(contact, rng.choice([*operators, None]), moved_at)

    t, r = totals(), recount()
    assert {k: (t.get(k), r.get(k)) for k in t.keys() | r.keys() if t.get(k) != r.get(k)} == {}
    for start in [since, *edges, since + timedelta(minutes=30), since - timedelta(hours=2)]:
        for operator in operators:
            assert read(source, operator, start) == (counted(operator, start),) * 2, (operator, start)


def test_the_first_hour_counted_one_by_one_is_kept_to_the_limit():
    source = SourceFactory()
    anna = OperatorFactory(load_limit=3)
    WeightFactory(source=source, operator=anna)
    since = window_start(NOW)
    ContactFactory.create_batch(5, operator=anna, created_at=since + timedelta(seconds=1))  # the first hour
    assert read(source, anna, since) == (3, 3)
    anna.load_limit = 10
    anna.save()
    ContactFactory.create_batch(2, operator=anna, created_at=NOW)  # a whole hour's total
    assert read(source, anna, since) == (7, 7)


def test_old_hours_are_kept_for_a_longer_window_set_later(settings):
    source = SourceFactory()
    anna = OperatorFactory()
    WeightFactory(source=source, operator=anna)
    for hours in (1, 30, 47):
        ContactFactory(operator=anna, created_at=NOW - timedelta(hours=hours))
    for window, load in ((24, 1), (48, 3)):
        settings.LOAD_WINDOW_HOURS = window
        assert (
            read(source, anna, window_start(NOW)) == (load, load) == (counted(anna, window_start(NOW)),) * 2
        )


@pytest.mark.django_db(transaction=True)
def test_a_move_takes_the_totals_locks_in_key_order_so_crossing_moves_wait_instead_of_deadlocking():
    """A transaction holds one operator's total of this hour and then wants the other's, while a move from
    the other operator to the first runs: the move must not have taken the other's total meanwhile (it
    locks the smaller key first and waits there), else PostgreSQL finds a deadlock and aborts one."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks: SQLite serialises its writers (BEGIN IMMEDIATE)")
    first, second = sorted([OperatorFactory(), OperatorFactory()], key=lambda o: o.pk)
    ContactFactory(operator=first, created_at=NOW)
    moving = ContactFactory(operator=second, created_at=NOW)
    hour = epoch_hour(NOW)
    holding, errors = threading.Event(), []

    def hold_both() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                locked = "SELECT given FROM crm_loadhour WHERE operator_id = %s AND hour = %s FOR UPDATE"
                cursor.execute(locked, [first.pk, hour])
                holding.set()
                wait_until_blocked(cursor)
                cursor.execute(locked, [second.pk, hour])  # the move must not hold this one
        except Exception as exc:  # noqa: BLE001 - any failure in a thread is the test's
            errors.append(exc)
        finally:
            connection.close()

    def move() -> None:
        try:
            holding.wait(timeout=30)
            assign(Contact.objects.get(pk=moving.pk), first, NOW)
        except Exception as exc:  # noqa: BLE001 - any failure in a thread is the test's
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=hold_both), threading.Thread(target=move)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert totals() == recount() == {(first.pk, hour): 2}


def wait_until_blocked(cursor, timeout: float = 30) -> None:
    """Until another session waits for a row lock (the move, behind this session's lock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # pg_locks, not pg_stat_activity: that one is read once per transaction.
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        if cursor.fetchone()[0]:
            return
        time.sleep(0.01)
    raise AssertionError("the move never waited for the lock")
