"""The intake's round trips on PostgreSQL: BEGIN and COMMIT ride along with statements, the health check
is replaced by the first read, and whatever fails leaves the connection out of any transaction."""

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.models import Contact, Lead
from crm.tests.factories import SourceFactory, WeightFactory
from distribution import sql
from distribution.services import assign_contact
from distribution.tests.test_webhook import post

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def source():
    source = SourceFactory()
    WeightFactory(source=source, weight=1)
    WeightFactory(source=source, weight=2)
    return source


def a_new_request_on_a_reused_connection() -> None:
    # What close_old_connections does between two requests (the test client skips it): the next query
    # would first run Django's health check.
    connection.health_check_done = False


def test_a_webhook_intake_takes_three_round_trips_and_no_health_check(client, source, monkeypatch):
    assert post(client, source, {"external_id": "warm-up"}).status_code == 201
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or True)
    a_new_request_on_a_reused_connection()
    with CaptureQueriesContext(connection) as queries:
        assert post(client, source, {"external_id": "tg-1"}).status_code == 201
    sent = [q["sql"] for q in queries.captured_queries]
    # The token check; BEGIN with the lead, the lock and the load; the contact with COMMIT. Django logs
    # a BEGIN or COMMIT it sends alone as an entry of its own: there is none.
    assert len(sent) == 3, sent
    assert sent[1].startswith("BEGIN; INSERT INTO") and sent[2].endswith("; COMMIT")
    assert checks == []  # no SELECT 1 of Django's health check
    assert Contact.objects.filter(lead__external_id="tg-1").exclude(operator=None).count() == 1


def test_a_connection_broken_since_the_last_request_is_replaced_by_the_first_read(client, source):
    assert post(client, source, {"external_id": "before"}).status_code == 201
    pid = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    a_new_request_on_a_reused_connection()
    response = post(client, source, {"external_id": "after"})
    assert response.status_code == 201, response.content  # not a 503
    assert connection.connection.info.backend_pid != pid
    assert Contact.objects.filter(lead__external_id="after").count() == 1


def test_a_failed_intake_is_rolled_back_and_leaves_no_transaction_open(source, monkeypatch, rng):
    broken = sql.Statement('INSERT INTO "crm_contact" ("no_such_column") VALUES (1) RETURNING id')
    with monkeypatch.context() as patch:
        patch.setattr(sql, "insert_contact", lambda contact: broken)
        with pytest.raises(DatabaseError):
            assign_contact(source=source, external_id="lost", rng=rng)
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert not Lead.objects.filter(external_id="lost").exists()  # the lead's upsert went with it
    assert assign_contact(source=source, external_id="next", rng=rng).pk is not None


def test_inside_an_outer_transaction_the_intake_commits_nothing_itself(source, rng):

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        assign_contact(source=source, external_id="undone", rng=rng)
        raise Undo
    assert not Lead.objects.filter(external_id="undone").exists()
    assert not Contact.objects.exists()
