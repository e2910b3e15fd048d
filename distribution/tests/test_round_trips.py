"""The intake's round trips on PostgreSQL: BEGIN and COMMIT ride along with statements, the health check
is replaced by the first read, the statements run as EXECUTE of copies each connection prepares once, and
whatever fails leaves the connection out of any transaction."""

import re
from datetime import timedelta

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Contact, Lead, Operator, Source, SourceOperatorWeight, SourceToken
from crm.secrets import token_digest
from crm.services import create_skill, create_source
from crm.tests.factories import SourceFactory, WeightFactory
from distribution import db, sql
from distribution.capacity import set_source_skills
from distribution.intake import store_contact
from distribution.routes import memory, source_route
from distribution.tests.test_webhook import post
from events.models import Subscription

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


def test_a_token_met_first_takes_three_round_trips_and_no_health_check(client, source, monkeypatch):
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or True)
    with CaptureQueriesContext(connection):  # a connection with the statements prepared
        connection.ensure_connection()
    a_new_request_on_a_reused_connection()
    with CaptureQueriesContext(connection) as queries:
        assert post(client, source, {"external_id": "tg-1"}).status_code == 201
    sent = [
        q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("PREPARE ", "SELECT name"))
    ]
    # The token check (in a transaction of its own, planned without sequential scans); BEGIN with the
    # lead, the lock and the load; the contact with COMMIT. Django logs a BEGIN or COMMIT it sends alone as
    # an entry of its own: there is none.
    assert len(sent) == 3, sent
    assert sent[0].startswith("BEGIN; SET LOCAL enable_seqscan = off; EXECUTE leadflow_authenticate(")
    assert sent[0].endswith("; COMMIT")
    assert sent[1].startswith("BEGIN; SET LOCAL enable_seqscan = off; EXECUTE leadflow_upsert_lead(")
    assert sent[2].endswith("; COMMIT")
    assert "EXECUTE leadflow_insert_contact(" in sent[2]
    assert checks == []  # no SELECT 1 of Django's health check


def test_a_token_met_before_takes_two_round_trips(client, source, monkeypatch):
    assert post(client, source, {"external_id": "warm-up"}).status_code == 201
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or True)
    a_new_request_on_a_reused_connection()
    with CaptureQueriesContext(connection) as queries:
        assert post(client, source, {"external_id": "tg-2"}).status_code == 201
    sent = [q["sql"] for q in queries.captured_queries]
    # BEGIN with the token check (the token and the route's version, not the route), the lead, the lock and
    # the load; the contact with COMMIT.
    assert len(sent) == 2, sent
    assert sent[0].startswith("BEGIN; SET LOCAL enable_seqscan = off; EXECUTE leadflow_route_check(")
    assert "EXECUTE leadflow_upsert_lead(" in sent[0] and "EXECUTE leadflow_lock_operator(" in sent[0]
    assert sent[1].startswith("EXECUTE leadflow_insert_contact(") and sent[1].endswith("; COMMIT")
    assert checks == []
    assert Contact.objects.filter(lead__external_id="tg-2").exclude(operator=None).count() == 1


def test_a_token_met_before_takes_two_round_trips_when_its_source_uses_skills(client, source):
    # A skill-using route is confirmed like any other (by its version): nothing the contacts do moves
    # it, or every contact would run again.
    skills = [create_skill(name=name) for name in ("ru", "en", "vip")]
    set_source_skills(source=source, required=["ru"])
    for weight in source.weights.select_related("operator"):
        weight.operator.skills.set(skills)
    assert post(client, source, {"external_id": "skilled-warm-up"}).status_code == 201
    for n in range(5):
        with CaptureQueriesContext(connection) as queries:
            assert post(client, source, {"external_id": f"skilled-{n}"}).status_code == 201
        assert len(queries.captured_queries) == 2, [q["sql"][:80] for q in queries.captured_queries]
    assert (
        Contact.objects.filter(lead__external_id__startswith="skilled-").exclude(operator=None).count() == 6
    )


def test_a_connection_keeps_one_cursor_for_its_round_trips_and_a_new_connection_opens_its_own(
    client, source, monkeypatch
):
    assert post(client, source, {"external_id": "warm-up"}).status_code == 201
    opened = []
    real = connection.create_cursor
    monkeypatch.setattr(connection, "create_cursor", lambda name=None: opened.append(name) or real(name))
    a_new_request_on_a_reused_connection()
    assert post(client, source, {"external_id": "warm"}).status_code == 201
    assert opened == []  # both round trips on the cursor the connection kept
    connection.close()  # as CONN_MAX_AGE or a failure would
    assert post(client, source, {"external_id": "reconnected"}).status_code == 201
    assert opened == [None]  # one for the new connection, kept for its next round trips
    assert post(client, source, {"external_id": "again"}).status_code == 201
    assert opened == [None]
    assert Contact.objects.filter(lead__external_id__in=["warm", "reconnected", "again"]).count() == 3


def kill_the_connection() -> int:
    pid = connection.connection.info.backend_pid
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    return pid


def test_a_connection_broken_since_the_last_request_is_replaced_by_the_first_read(client, source):
    assert post(client, source, {"external_id": "before"}).status_code == 201
    memory.routes.clear()  # the token is read on its own first
    pid = kill_the_connection()
    a_new_request_on_a_reused_connection()
    response = post(client, source, {"external_id": "after"})
    assert response.status_code == 201, response.content  # not a 503
    assert connection.connection.info.backend_pid != pid
    assert Contact.objects.filter(lead__external_id="after").count() == 1


def test_a_connection_broken_since_the_last_request_is_replaced_by_the_first_batch(client, source):
    assert post(client, source, {"external_id": "before"}).status_code == 201
    pid = kill_the_connection()
    a_new_request_on_a_reused_connection()
    response = post(client, source, {"external_id": "after"})  # the token check rides in the first batch
    assert response.status_code == 201, response.content
    assert connection.connection.info.backend_pid != pid
    assert Contact.objects.filter(lead__external_id="after").count() == 1
    assert Lead.objects.filter(external_id="after").count() == 1


def test_a_read_that_opens_a_request_on_the_kept_cursor_still_gets_djangos_health_check(client, source):
    # The worker reads a route this way (routes.source_route), not through fetch_first: Django's own check
    # of a reused connection must still replace one that broke since the last request.
    assert post(client, source, {"external_id": "before"}).status_code == 201
    pid = kill_the_connection()
    a_new_request_on_a_reused_connection()
    route = source_route(source.pk)
    assert route is not None and route.source.pk == source.pk
    assert connection.connection.info.backend_pid != pid


def test_a_connection_broken_in_the_middle_of_an_intake_is_not_sent_again(client, source, monkeypatch):
    assert post(client, source, {"external_id": "before"}).status_code == 201
    real = sql.insert_contact

    def kill_then_insert(contact):
        kill_the_connection()
        return real(contact)

    monkeypatch.setattr(sql, "insert_contact", kill_then_insert)
    response = post(client, source, {"external_id": "cut"})
    assert response.status_code == 503  # the client retries; nothing half-done was committed
    monkeypatch.undo()
    assert not Lead.objects.filter(external_id="cut").exists()


def test_a_failed_intake_is_rolled_back_and_leaves_no_transaction_open(source, monkeypatch, rng):
    broken = sql.Statement('INSERT INTO "crm_contact" ("no_such_column") VALUES (1) RETURNING id')
    with monkeypatch.context() as patch:
        patch.setattr(sql, "insert_contact", lambda contact: broken)
        with pytest.raises(DatabaseError):
            store_contact(source=source, external_id="lost", rng=rng)
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert not Lead.objects.filter(external_id="lost").exists()  # the lead's upsert went with it
    assert store_contact(source=source, external_id="next", rng=rng).pk is not None


def test_inside_an_outer_transaction_the_intake_commits_nothing_itself(source, rng):

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        store_contact(source=source, external_id="undone", rng=rng)
        raise Undo
    assert not Lead.objects.filter(external_id="undone").exists()
    assert not Contact.objects.exists()


def prepared_here() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def test_each_connection_prepares_the_statements_once(client, source):
    connection.close()
    with CaptureQueriesContext(connection) as first:
        assert post(client, source, {"external_id": "first"}).status_code == 201
    with CaptureQueriesContext(connection) as second:
        assert post(client, source, {"external_id": "second"}).status_code == 201
    assert sum(q["sql"].startswith("PREPARE ") for q in first.captured_queries) == 1  # all in one go
    assert len(first.captured_queries) == 5 and len(second.captured_queries) == 2
    assert {db.PREPARED_PREFIX + name for name in sql.named()} <= prepared_here()
    # They were planned by PostgreSQL once and run as EXECUTE ever since: the contact is the same as ever.
    contact = Contact.objects.get(lead__external_id="second")
    assert contact.operator_id is not None and contact.explanation["path"] == "draw"


def test_statements_a_connection_already_holds_are_not_prepared_twice(client, source):
    assert post(client, source, {"external_id": "warm-up"}).status_code == 201
    # A PREPARE outlives the rollback of its transaction: a connection may hold copies the app did not
    # record. Preparing one again would be an error ("prepared statement already exists").
    with connection.cursor() as cursor:
        cursor.execute(f"DEALLOCATE {db.PREPARED_PREFIX}insert_contact")
    db._prepared_on.discard(connection.connection)
    assert post(client, source, {"external_id": "after"}).status_code == 201
    assert db.PREPARED_PREFIX + "insert_contact" in prepared_here()


def test_behind_a_pooler_in_transaction_mode_the_statements_go_as_text(client, source, settings):
    # The next transaction may run on another server connection, one without the prepared copies.
    settings.DATABASE_POOLER = "transaction"
    connection.close()
    with CaptureQueriesContext(connection) as queries:
        assert post(client, source, {"external_id": "pooled"}).status_code == 201
    sent = " ".join(q["sql"] for q in queries.captured_queries)
    assert "EXECUTE" not in sent and "PREPARE" not in sent
    assert not {name for name in prepared_here() if name.startswith(db.PREPARED_PREFIX)}


def generic_plan(statement: sql.Statement, *, analyze: str) -> tuple[str, list[tuple]]:
    """The token check's generic plan (made without the parameters' values, as PostgreSQL may keep for a
    prepared statement) after ANALYZE of the `analyze` tables, under the settings of the token check's
    own transaction (db.fetch_first: no sequential scans), and the rows that plan reads."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {analyze}")
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(f"PREPARE generic_check AS {db.numbered(statement.sql)}")
        placeholders = ", ".join(["%s"] * len(statement.params))
        try:
            cursor.execute(f"EXPLAIN EXECUTE generic_check({placeholders})", statement.params)
            plan = "\n".join(row for (row,) in cursor.fetchall())
            cursor.execute(f"EXECUTE generic_check({placeholders})", statement.params)
            rows = cursor.fetchall()
        finally:
            cursor.execute("DEALLOCATE generic_check")
            cursor.execute("RESET plan_cache_mode")
            cursor.execute("RESET enable_seqscan")
    return plan, rows


def test_the_token_checks_plan_reads_by_index_however_many_sources():
    # A prepared statement may run its generic plan, made without the parameters' values: it must still
    # find the source by its digest's index, not scan the sources, weights and operators.
    sources = Source.objects.bulk_create(Source(name=f"plan-{n}", token_prefix="p") for n in range(300))
    SourceToken.objects.bulk_create(
        SourceToken(source=s, digest=f"{n:064x}", prefix="p", expires_at=None if n % 2 else timezone.now())
        for n, s in enumerate(sources)
        for n in (2 * n, 2 * n + 1)  # each source a current token and one whose grace has ended
    )
    operators = Operator.objects.bulk_create(Operator(name=f"plan-{n}") for n in range(300 * 20))
    SourceOperatorWeight.objects.bulk_create(
        SourceOperatorWeight(source=s, operator=operators[i * 20 + j], weight=1)
        for i, s in enumerate(sources)
        for j in range(20)
    )
    statement = sql.authenticate(f"{15:064x}", now=timezone.now())  # sources[7]'s current token
    plan, rows = generic_plan(
        statement, analyze="crm_source, crm_sourcetoken, crm_sourceoperatorweight, crm_operator"
    )
    assert "Seq Scan" not in plan, plan
    assert {row[0] for row in rows} == {sources[7].pk} and len(rows) == 20
    # The check of a remembered route: the token and the source's version, over the changes' index.
    check = sql.route_check(f"{15:064x}", now=timezone.now())
    plan, rows = generic_plan(check, analyze="crm_source, crm_sourcetoken, crm_routechange")
    assert "Seq Scan" not in plan and "routechange_source" in plan, plan
    [(source_id, subscribed, version)] = rows
    assert (source_id, subscribed, len(version)) == (sources[7].pk, False, 20)  # a change per weight added


def test_a_load_count_planned_while_there_were_no_contacts_still_reads_by_index(client, source):
    # A prepared statement's generic plan is made once, at its sixth run, from the table's size then. On
    # an empty contact table a scan is cheapest; it must not be the plan that stays as the table grows.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_contact")
    for n in range(8):
        assert post(client, source, {"external_id": f"early-{n}"}).status_code == 201
    operator = source.weights.first().operator
    lead = Lead.objects.first()
    Contact.objects.bulk_create(
        Contact(lead=lead, source=source, operator=operator, assigned_at=timezone.now(), state="assigned")
        for _ in range(3000)
    )
    since = timezone.now() - timedelta(minutes=30)  # a first hour with contacts in it
    for statement in (
        sql.weight_and_load(source_id=source.pk, operator_id=operator.pk, since=since),
        sql.loads(source_id=source.pk, since=since),
    ):
        with connection.cursor() as cursor:  # the plan the connection holds, outside any intake's settings
            placeholders = ", ".join(["%s"] * len(statement.params))
            # The generic plan, which PostgreSQL keeps for a statement after its fifth run.
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            try:
                cursor.execute(
                    f"EXPLAIN EXECUTE {db.PREPARED_PREFIX}{statement.name}({placeholders})", statement.params
                )
                plan = "\n".join(row for (row,) in cursor.fetchall())
            finally:
                cursor.execute("RESET plan_cache_mode")
        # The contacts of the first hour and the hourly totals, each read over its (operator, time) index only.
        assert "Seq Scan on crm_contact" not in plan and "contact_operator_load" in plan, plan
        assert "contact_given" not in plan and "contact_operator_window" not in plan, plan
        assert "crm_loadhour_pkey" in plan, plan


def test_the_token_check_reads_the_sources_own_values_once_not_once_per_operator():
    # Its subscription and its skills belong to the source: read for each operator's row of the join, they
    # would cost a read each per operator, and the token check runs with every contact.
    source, token = create_source(name="once per source")
    for _ in range(20):
        WeightFactory(source=source, weight=1)
    create_skill(name="ru")
    create_skill(name="vip")
    set_source_skills(source=source, required=["ru"], preferred=["vip"])
    Subscription.objects.create(url="https://example.com/hook", source=source)
    with transaction.atomic(), connection.cursor() as cursor:
        rows = db.fetch_all(sql.authenticate(token_digest(token), now=timezone.now()))
        cursor.execute(
            "SELECT relname, coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables "
            "WHERE relname = ANY(%s)",
            [["events_subscription", "crm_source_required_skills", "crm_source_preferred_skills"]],
        )
        scans = dict(cursor.fetchall())
    assert len(rows) == 20 and {row[4] for row in rows} == {True}  # subscribed, on every operator's row
    assert {tuple(row[7]) for row in rows} == {("ru",)} and {tuple(row[8]) for row in rows} == {("vip",)}
    # Read once, whichever plan: a few scans (one per skill of the source at most); per operator row, 20 or more.
    assert set(scans) == {"events_subscription", "crm_source_required_skills", "crm_source_preferred_skills"}
    assert 1 <= min(scans.values()) and max(scans.values()) < 10, scans


def test_the_token_check_reads_each_operators_skills_without_sorting_them():
    # The token check runs with every contact and reads the skills of each of the source's operators: in
    # the order of the link table's (operator, skill) index they need no sort; ordered by name, each
    # operator's list was sorted on its own (20 sorts a contact). The rows still carry the names.
    source, token = create_source(name="skills unsorted")
    skills = [create_skill(name=name) for name in ("vip", "en", "ru")]  # ids in another order than names
    set_source_skills(source=source, required=["ru"])
    for n in range(20):
        weight = WeightFactory(source=source, weight=1)
        weight.operator.skills.set(skills[: 1 + n % 3])
    plan, rows = generic_plan(
        sql.authenticate(token_digest(token), now=timezone.now()),
        analyze="crm_operator_skills, crm_skill, crm_sourceoperatorweight, crm_operator",
    )
    # (The rows themselves are ordered by operator: a sort of the 20 rows at most, once.)
    assert not re.search(r"Sort Key: \w+\.name", plan), plan
    held = {row[9]: row[13] for row in rows}
    by_operator = {
        w.operator_id: {s.name for s in w.operator.skills.all()}
        for w in source.weights.select_related("operator")
    }
    assert {op: set(names) for op, names in held.items()} == by_operator
    assert all(len(names) == len(set(names)) for names in held.values())
    # In one fixed order, the skills' ids (two reads of a route compare equal): 13 of the 20 lists hold two
    # or three names, so any other order shows.
    in_id_order = {
        w.operator_id: [s.name for s in w.operator.skills.order_by("pk")]
        for w in source.weights.select_related("operator")
    }
    assert {op: list(names) for op, names in held.items()} == in_id_order


def test_a_contacts_explanation_is_compressed_with_lz4(rng):
    # pglz, PostgreSQL's default, cost the INSERT some 40 µs (migration 0018); this server has lz4.
    source = SourceFactory()
    for _ in range(20):  # an explanation of 20 candidates, too long to be stored uncompressed
        WeightFactory(source=source, weight=1)
    contact = store_contact(source=source, external_id="compressed", rng=rng)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(explanation) FROM crm_contact WHERE id = %s", [contact.pk]
        )
        assert cursor.fetchone() == ("lz4",)
