"""The waiting queue, supervisors' assignments, returning leads, and the edges of the intake's rules."""

import random
from collections import Counter
from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone

from crm.eligibility import window_start
from crm.models import Contact, Operator
from crm.tests.factories import (
    ContactFactory,
    LeadFactory,
    OperatorFactory,
    SourceFactory,
    WeightFactory,
    operator_admin_form,
)
from distribution import capacity, db, intake, sql
from distribution.intake import receive_contact, store_contact
from distribution.manual import AssignmentRefused, assign_manually
from distribution.queue import drain
from distribution.routes import memory, source_route
from distribution.tests.sent import times_run

pytestmark = pytest.mark.django_db


def source_with(*operators, weights=None, **fields):
    source = SourceFactory(**fields)
    for i, operator in enumerate(operators):
        WeightFactory(source=source, operator=operator, weight=weights[i] if weights else 1)
    return source


def waiting(source, *, minutes_ago: float, lead=None) -> Contact:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return ContactFactory(source=source, operator=None, created_at=at, **({"lead": lead} if lead else {}))


# --- Edges of the intake that mutation testing found unpinned --------------------------------------


def test_limit_active_flag_and_weight_are_read_again_under_the_lock(rng):
    """Stale candidates (read before a supervisor's change committed) never decide: the lock re-reads."""
    full, off, removed = OperatorFactory(load_limit=10), OperatorFactory(), OperatorFactory()
    source = source_with(full, off, removed)
    ContactFactory(operator=full)
    stale = source_route(source.pk)  # read before the supervisor's changes, as a token check in flight
    Operator.objects.filter(pk=full.pk).update(load_limit=1)
    Operator.objects.filter(pk=off.pk).update(is_active=False)
    source.weights.filter(operator=removed).delete()

    contact = store_contact(source=source, external_id="x", route=stale, rng=rng)

    assert contact.operator_id is None and contact.unassigned_reason == "all_at_limit"
    seen = {c["operator_id"]: c for c in contact.explanation["candidates"]}
    assert seen[full.pk]["excluded"] == "at_limit" and seen[full.pk]["limit"] == 1
    assert seen[off.pk]["excluded"] == "inactive"
    assert seen[removed.pk]["excluded"] == "no_weight" and seen[removed.pk]["weight"] == 0


def test_the_locked_count_excludes_an_assignment_exactly_at_the_window_start(settings, rng):
    settings.LOAD_WINDOW_HOURS = 24
    now = timezone.now()
    anna = OperatorFactory(load_limit=1)
    ContactFactory(operator=anna, created_at=now - timedelta(hours=30), assigned_at=window_start(now))
    assert store_contact(source=source_with(anna), external_id="x", now=now, rng=rng).operator == anna
    # One microsecond later it would still count, and the operator would be full.
    other = OperatorFactory(load_limit=1)
    ContactFactory(operator=other, assigned_at=window_start(now) + timedelta(microseconds=1))
    assert store_contact(source=source_with(other), external_id="y", now=now, rng=rng).operator is None


def test_a_lost_idempotency_race_answers_with_the_winners_contact(rng):
    """The unique key settles a race: the loser's IntegrityError becomes a replay (SQLite included)."""
    source = source_with(OperatorFactory())
    winner = receive_contact(source=source, external_id="x", idempotency_key="k", rng=rng).contact
    real = intake._earlier_contact
    calls = []

    def first_look_misses(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    with mock.patch.object(intake, "_earlier_contact", side_effect=first_look_misses):
        receipt = receive_contact(source=source, external_id="x", idempotency_key="k", rng=rng)
    assert receipt.replayed and receipt.contact.pk == winner.pk and len(calls) == 2
    assert Contact.objects.count() == 1


def test_a_flood_while_everyone_is_full_counts_the_others_in_one_statement(
    rng, django_assert_max_num_queries
):
    operators = [OperatorFactory(load_limit=1) for _ in range(8)]
    for operator in operators:
        ContactFactory(operator=operator)
    source = source_with(*operators)
    with django_assert_max_num_queries(14) as captured:
        contact = store_contact(source=source, external_id="x", rng=rng)
    assert contact.operator_id is None and contact.unassigned_reason == "all_at_limit"
    locks = times_run(captured.captured_queries, sql.lock_operator(0))
    assert 1 <= locks <= 2  # not one lock per operator
    assert all(c["excluded"] == "at_limit" for c in contact.explanation["candidates"])


def test_after_a_contact_found_everyone_full_the_next_locks_nobody(rng, django_assert_max_num_queries):
    operators = [OperatorFactory(load_limit=1) for _ in range(5)]
    for operator in operators:
        ContactFactory(operator=operator)
    source = source_with(*operators)
    store_contact(source=source, external_id="first", rng=rng)
    with django_assert_max_num_queries(14) as captured:
        contact = store_contact(source=source, external_id="second", rng=rng)
    assert contact.unassigned_reason == "all_at_limit" and contact.explanation["draws"] == []
    assert times_run(captured.captured_queries, sql.lock_operator(0)) == 0
    assert times_run(captured.captured_queries, sql.loads(source_id=0, since=timezone.now())) == 1
    assert [c["load"] for c in contact.explanation["candidates"]] == [1] * 5  # every one counted


def test_the_unlocked_loads_are_counted_only_up_to_each_limit(rng):
    # A flood's count reads at most `limit` window entries per operator, however many the window holds.
    operators = [OperatorFactory(load_limit=2) for _ in range(4)]
    for operator in operators:
        ContactFactory.create_batch(30, operator=operator)
    source = source_with(*operators)
    store_contact(source=source, external_id="first", rng=rng)
    contact = store_contact(source=source, external_id="second", rng=rng)  # starts with the loads
    assert contact.explanation["draws"] == []
    assert [c["load"] for c in contact.explanation["candidates"]] == [2, 2, 2, 2]


def test_after_a_flood_capacity_is_found_at_once_and_only_free_operators_are_drawn(rng):
    full = [OperatorFactory(load_limit=1) for _ in range(4)]
    for operator in full:
        ContactFactory(operator=operator)
    source = source_with(*full)
    assert store_contact(source=source, external_id="flood", rng=rng).operator_id is None
    Operator.objects.filter(pk__in=[full[1].pk, full[3].pk]).update(load_limit=50)
    freed = {full[1].pk, full[3].pk}
    chosen = Counter(
        store_contact(source=source, external_id=f"after-{n}", rng=random.Random(n)).operator_id
        for n in range(40)
    )
    assert set(chosen) == freed and min(chosen.values()) > 5  # both drawn, nobody else
    # A source with capacity again is not read as full any more: a draw locks first.
    assert source.pk not in memory.full_sources


def test_server_side_binding_runs_the_statements_one_by_one(settings, rng, monkeypatch):
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "server_side_binding", True)
    assert not db.batching()
    contact = store_contact(source=source_with(OperatorFactory()), external_id="x", rng=rng)
    assert contact.operator_id is not None


# --- The queue drains itself ----------------------------------------------------------------------


def test_drain_assigns_oldest_first_up_to_the_limits_and_says_what_it_did(rng):
    anna = OperatorFactory(load_limit=2)
    source = source_with(anna)
    contacts = [waiting(source, minutes_ago=m) for m in (5, 50, 20)]
    report = drain(rng=rng)
    assert (report.assigned, report.still_waiting, report.too_old) == (2, 1, 0)
    assigned = set(Contact.objects.filter(operator=anna).values_list("pk", flat=True))
    assert assigned == {contacts[1].pk, contacts[2].pk}  # the two oldest
    contact = Contact.objects.get(pk=contacts[1].pk)
    assert contact.assigned_at > contact.created_at and contact.unassigned_reason == ""
    assert contact.explanation["path"] == "drain" and contact.explanation["chosen"] == anna.pk


def test_drain_leaves_contacts_older_than_the_max_age_for_a_person(settings, rng):
    settings.UNASSIGNED_MAX_AGE_HOURS = 72
    source = source_with(OperatorFactory())
    old = waiting(source, minutes_ago=72 * 60 + 1)
    fresh = waiting(source, minutes_ago=71 * 60)
    report = drain(rng=rng)
    assert (report.assigned, report.too_old) == (1, 1)
    assert Contact.objects.get(pk=old.pk).operator is None and Contact.objects.get(pk=fresh.pk).operator


def test_the_command_prints_what_it_did(rng):
    source = source_with(OperatorFactory(load_limit=1))
    waiting(source, minutes_ago=3)
    waiting(source, minutes_ago=2)
    out = StringIO()
    call_command("assign_unassigned", stdout=out)
    assert "assigned=1 still_waiting=1 too_old=0" in out.getvalue()


def test_activating_an_operator_in_the_admin_routes_waiting_contacts(
    admin_client, django_capture_on_commit_callbacks
):
    boris = OperatorFactory(is_active=False)
    source = source_with(boris)
    contact = waiting(source, minutes_ago=10)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:crm_operator_changelist"), {"action": "activate", "_selected_action": [boris.pk]}
        )
    contact.refresh_from_db()
    assert contact.operator == boris and contact.explanation["path"] == "capacity_change"


@pytest.mark.parametrize(
    "change",
    [
        lambda op, source: capacity.update_operator(operator=op, load_limit=5),
        lambda op, source: capacity.set_weights(source=source, weights={op.pk: 1, OperatorFactory().pk: 2}),
    ],
)
def test_raising_a_limit_or_adding_a_weight_routes_waiting_contacts(
    change, django_capture_on_commit_callbacks
):
    anna = OperatorFactory(load_limit=0)
    source = source_with(anna)
    contact = waiting(source, minutes_ago=10)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        change(anna, source)
    assert callbacks and Contact.objects.get(pk=contact.pk).operator is not None


def test_lowering_a_limit_or_deactivating_drains_nothing(django_capture_on_commit_callbacks):
    anna = OperatorFactory(load_limit=5)
    source_with(anna)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        capacity.update_operator(operator=anna, load_limit=3)
        capacity.set_operators_active(operators=Operator.objects.all(), is_active=False)
    assert callbacks == []


def test_inline_drain_after_a_change_is_bounded(settings, django_capture_on_commit_callbacks):
    settings.DRAIN_INLINE_LIMIT = 3
    anna = OperatorFactory(load_limit=0)
    source = source_with(anna)
    for minutes in range(10):
        waiting(source, minutes_ago=minutes + 1)
    with django_capture_on_commit_callbacks(execute=True):
        capacity.update_operator(operator=anna, load_limit=100)
    assert Contact.objects.filter(operator=anna).count() == 3
    assert drain().assigned == 7  # the periodic drain does the rest


# --- Supervisors assign and re-route by hand ------------------------------------------------------


def test_manual_assignment_respects_limit_and_active_flag_unless_overridden(rng):
    full = OperatorFactory(name="Full", load_limit=1)
    ContactFactory(operator=full)
    contact = waiting(source_with(OperatorFactory()), minutes_ago=5)
    with pytest.raises(AssignmentRefused):
        assign_manually(contact=contact, operator=full, by="sam")
    assert Contact.objects.get(pk=contact.pk).operator is None
    assign_manually(contact=contact, operator=full, by="sam", override=True)
    contact.refresh_from_db()
    assert contact.operator == full and contact.explanation["path"] == "manual_override"
    assert contact.explanation["by"] == "sam"


def test_manual_assignment_to_an_inactive_operator_is_refused():
    off = OperatorFactory(is_active=False)
    contact = waiting(source_with(), minutes_ago=1)
    with pytest.raises(AssignmentRefused):
        assign_manually(contact=contact, operator=off, by="sam")


def test_a_manual_assignment_outside_the_contacts_source_is_recorded_as_such():
    member, stranger = OperatorFactory(), OperatorFactory()
    source = source_with(member)
    inside, outside = waiting(source, minutes_ago=2), waiting(source, minutes_ago=1)
    assign_manually(contact=inside, operator=member, by="sam")
    assign_manually(contact=outside, operator=stranger, by="sam")
    inside.refresh_from_db()
    outside.refresh_from_db()
    assert "outside_source" not in inside.explanation
    assert outside.explanation["outside_source"] is True and outside.explanation["path"] == "manual"


def test_routing_again_moves_the_contact_and_its_load(rng):
    ill, healthy = OperatorFactory(), OperatorFactory()
    source = source_with(ill, healthy)
    contact = ContactFactory(source=source, operator=ill)
    assign_manually(contact=contact, operator=None, by="sam", rng=rng)
    contact.refresh_from_db()
    assert contact.operator == healthy and contact.explanation["path"] == "route_again"
    loads = dict(Operator.objects.with_load().values_list("pk", "load"))
    assert loads == {ill.pk: 0, healthy.pk: 1}


def test_routing_again_with_nobody_else_free_changes_nothing(rng):
    only = OperatorFactory()
    contact = ContactFactory(source=source_with(only), operator=only)
    with pytest.raises(AssignmentRefused):
        assign_manually(contact=contact, operator=None, by="sam", rng=rng)
    assert Contact.objects.get(pk=contact.pk).operator == only


def test_admin_route_again_and_assign_actions(admin_client):
    anna = OperatorFactory(load_limit=0)
    source = source_with(anna)
    contact = waiting(source, minutes_ago=5)
    url = reverse("admin:crm_contact_changelist")
    admin_client.post(url, {"action": "route_again", "_selected_action": [contact.pk]})
    assert Contact.objects.get(pk=contact.pk).operator is None  # anna is full: nothing changes
    form = admin_client.post(url, {"action": "assign_to_operator", "_selected_action": [contact.pk]})
    assert form.status_code == 200 and "Even if the operator is full or switched off" in form.text
    admin_client.post(
        url,
        {
            "action": "assign_to_operator",
            "_selected_action": [contact.pk],
            "operator": anna.pk,
            "override": "on",
        },
    )
    contact.refresh_from_db()
    assert contact.operator == anna and contact.explanation["path"] == "manual_override"
    assert contact.explanation["by"] == "admin"


def test_staff_without_the_permission_see_no_assignment_actions(client):
    user = get_user_model().objects.create_user("sam", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client.force_login(user)
    page = client.get(reverse("admin:crm_contact_changelist")).text
    assert "route_again" not in page and "assign_to_operator" not in page
    contact = waiting(source_with(OperatorFactory()), minutes_ago=1)
    client.post(
        reverse("admin:crm_contact_changelist"), {"action": "route_again", "_selected_action": [contact.pk]}
    )
    assert Contact.objects.get(pk=contact.pk).operator is None


# --- Returning leads keep their operator ------------------------------------------------------------


def test_a_returning_lead_goes_back_to_its_operator(rng):
    anna, boris = OperatorFactory(), OperatorFactory()
    source = source_with(anna, boris, weights=[1, 1000], keep_operator=True)
    lead = LeadFactory()
    ContactFactory(lead=lead, operator=anna, source=source)
    contact = store_contact(source=source, external_id=lead.external_id, rng=rng)
    assert contact.operator == anna and contact.explanation["path"] == "sticky"


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        (lambda anna, source: Operator.objects.filter(pk=anna.pk).update(is_active=False), "inactive"),
        (lambda anna, source: Operator.objects.filter(pk=anna.pk).update(load_limit=1), "at_limit"),
        (lambda anna, source: source.weights.filter(operator=anna).delete(), "no_weight"),
    ],
)
def test_a_returning_lead_falls_back_to_the_draw_when_its_operator_cannot_take_it(spoil, why, rng):
    anna, boris = OperatorFactory(), OperatorFactory()
    source = source_with(anna, boris, keep_operator=True)
    lead = LeadFactory()
    ContactFactory(lead=lead, operator=anna, source=source)
    spoil(anna, source)
    contact = store_contact(source=source, external_id=lead.external_id, rng=rng)
    assert contact.operator == boris and contact.explanation["path"] == "draw"
    assert contact.explanation["sticky"] == {"operator_id": anna.pk, "fallback": why}


def test_sources_without_the_option_keep_the_weighted_shares(rng):
    """Returning leads through a source without the option are drawn as usual (chi-square, p = 0.001)."""
    ops = [OperatorFactory(load_limit=10_000) for _ in range(3)]
    source = source_with(*ops, weights=[1, 2, 3])
    lead = LeadFactory()
    ContactFactory(lead=lead, operator=ops[0], source=source)
    counts = Counter(
        store_contact(source=source, external_id=lead.external_id, rng=rng).operator_id for _ in range(600)
    )
    expected = {ops[0].pk: 100, ops[1].pk: 200, ops[2].pk: 300}
    assert sum((counts[k] - e) ** 2 / e for k, e in expected.items()) < 13.82  # df=2, p=0.001


def test_integrity_errors_other_than_a_replay_are_raised(rng):
    source = source_with(OperatorFactory())
    with mock.patch.object(intake, "store_contact", side_effect=IntegrityError("boom")):
        with pytest.raises(IntegrityError):
            receive_contact(source=source, external_id="x", rng=random.Random(1))


def test_drain_walks_a_queue_longer_than_one_batch_oldest_first(rng):
    anna = OperatorFactory(load_limit=1000)
    source = source_with(anna)
    same_time = timezone.now() - timedelta(minutes=30)
    contacts = [ContactFactory(source=source, operator=None, created_at=same_time) for _ in range(250)]
    contacts += [waiting(source, minutes_ago=m) for m in (20, 10)]
    assert drain(rng=rng, max_contacts=251).assigned == 251
    still = Contact.objects.get(operator=None)
    assert still.pk == contacts[-1].pk  # the newest waits; ties at one time go by id


@pytest.mark.django_db(transaction=True)
def test_the_admin_and_the_api_say_how_many_waiting_contacts_a_change_routed(admin_client):
    """Committed for real (no test transaction around it): the admin's message and the API's answer come
    after the change and its drain have committed."""
    from integrations.services import create_api_key
    from integrations.tests.conftest import client_with

    anna = OperatorFactory(name="Anna", load_limit=0)
    source = source_with(anna)
    for minutes in range(7):
        waiting(source, minutes_ago=minutes + 1)
    page = admin_client.post(
        reverse("admin:crm_operator_change", args=[anna.pk]),
        operator_admin_form(anna, load_limit=5),
        follow=True,
    )
    assert "5 waiting contacts were assigned." in page.text
    writer = client_with(create_api_key(name="telephony", scope="write")[1])
    answer = writer.patch(f"/api/v1/operators/{anna.pk}", {"load_limit": 6}).json()
    assert answer["waiting_assigned"] == 1 and answer["load"] == 6
    boris = OperatorFactory(name="Boris")
    answer = writer.put(
        f"/api/v1/sources/{source.pk}/weights",
        {"weights": [{"operator_id": anna.pk, "weight": 1}, {"operator_id": boris.pk, "weight": 1}]},
    ).json()
    assert answer["waiting_assigned"] == 1 and answer["waiting"]["count"] == 0
    # A change that adds nothing says nothing.
    page = admin_client.post(
        reverse("admin:crm_operator_change", args=[anna.pk]),
        operator_admin_form(anna, load_limit=4),
        follow=True,
    )
    assert "were assigned" not in page.text and "was assigned" not in page.text
    assert writer.patch(f"/api/v1/operators/{anna.pk}", {"name": "Anna K"}).json()["waiting_assigned"] == 0
