"""Rules that wrong code used to get past the suite: which changes start a drain, what the drain reports,
whom a returning lead goes back to, when a hand assignment is an override, what an idempotency key
stands for, and the admin inline's load. Each test here kills a planted mistake (named in its docstring)."""

import random
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact, Skill
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory
from distribution import capacity, queue
from distribution.intake import IdempotencyConflict, receive_contact, store_contact
from distribution.manual import assign_manually
from distribution.queue import drain

pytestmark = pytest.mark.django_db


def source_with(*operators, weights=None, **fields):
    source = SourceFactory(**fields)
    for i, operator in enumerate(operators):
        WeightFactory(source=source, operator=operator, weight=weights[i] if weights else 1)
    return source


@pytest.fixture
def drained(monkeypatch, django_capture_on_commit_callbacks) -> list[list[int]]:
    """The sources each committed change asked the queue to drain, in order."""
    calls: list[list[int]] = []
    monkeypatch.setattr(
        queue, "drain_sources", lambda ids, **kw: calls.append(sorted(ids)) or queue.DrainReport()
    )
    return calls


def committed(django_capture_on_commit_callbacks, change) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        change()


# --- Which changes start a drain -------------------------------------------------------------------


def test_weights_drain_only_when_one_is_added_or_raised_and_only_their_source(
    drained, django_capture_on_commit_callbacks
):
    """Mutants: a drain on every save (`grew = True`), on a lowered weight (`!=` for `>`), or of every
    source (not [source.pk])."""
    anna, boris = OperatorFactory(), OperatorFactory()
    bot, form = source_with(anna, weights=[3]), source_with(anna)
    same = {anna.pk: 3}
    committed(django_capture_on_commit_callbacks, lambda: capacity.set_weights(source=bot, weights=same))
    committed(
        django_capture_on_commit_callbacks, lambda: capacity.set_weights(source=bot, weights={anna.pk: 2})
    )
    committed(django_capture_on_commit_callbacks, lambda: capacity.set_weights(source=bot, weights={}))
    assert drained == []  # unchanged, lowered, removed: no capacity added
    committed(
        django_capture_on_commit_callbacks, lambda: capacity.set_weights(source=bot, weights={boris.pk: 1})
    )
    committed(
        django_capture_on_commit_callbacks, lambda: capacity.set_weights(source=bot, weights={boris.pk: 5})
    )
    assert drained == [[bot.pk], [bot.pk]] and form.pk not in drained[0]


def test_a_sources_skills_drain_only_when_a_requirement_is_dropped_or_the_preferred_change(
    drained, django_capture_on_commit_callbacks
):
    """Mutant: every save of a source's skills drains (a requirement added lets no contact through)."""
    for name in ("en", "ru", "vip"):
        Skill.objects.create(name=name)
    bot = source_with(OperatorFactory())

    def skills(**lists) -> None:
        committed(django_capture_on_commit_callbacks, lambda: capacity.set_source_skills(source=bot, **lists))

    skills(required=["en"])
    skills(required=["en"])
    skills(required=["en", "ru"])
    skills(preferred=[])
    assert drained == []  # added, unchanged, added, unchanged: nobody more can take a contact
    skills(required=["en"])
    skills(preferred=["vip"])
    assert drained == [[bot.pk], [bot.pk]]


def test_operator_changes_drain_only_when_capacity_grows_and_only_its_sources(
    drained, django_capture_on_commit_callbacks
):
    """Mutants: `>=` for `>` in adds_capacity, a drain when switched off, every source drained."""
    anna = OperatorFactory(load_limit=5)
    mine, theirs = source_with(anna), source_with(OperatorFactory())
    for change in [
        lambda: capacity.update_operator(operator=anna, load_limit=5),
        lambda: capacity.update_operator(operator=anna, name="Anna K"),
        lambda: capacity.update_operator(operator=anna, load_limit=4),
        lambda: capacity.update_operator(operator=anna, is_active=False),
        lambda: capacity.update_operator(operator=anna, load_limit=9),  # raised while switched off
    ]:
        committed(django_capture_on_commit_callbacks, change)
    assert drained == []
    committed(
        django_capture_on_commit_callbacks, lambda: capacity.update_operator(operator=anna, is_active=True)
    )
    committed(
        django_capture_on_commit_callbacks, lambda: capacity.update_operator(operator=anna, load_limit=10)
    )
    assert drained == [[mine.pk], [mine.pk]] and [theirs.pk] not in drained


def test_the_admin_inline_drains_on_added_or_raised_weights_only(
    admin_client, drained, django_capture_on_commit_callbacks
):
    """Mutant: the inline saved row by row and a drain guessed from a diff (or on every save)."""
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    bot = source_with(anna, weights=[3])
    row = bot.weights.get()

    def save(*rows) -> None:
        form = {
            "name": bot.name,
            "missed_offers_before_away": "3",
            "strategy": "weighted",
            "weights-TOTAL_FORMS": str(len(rows)),
            "weights-INITIAL_FORMS": "1",
        }
        for n, (pk, operator, weight, delete) in enumerate(rows):
            form |= {
                f"weights-{n}-id": pk or "",
                f"weights-{n}-source": bot.pk,
                f"weights-{n}-operator": operator.pk,
            }
            form |= {f"weights-{n}-weight": weight, **({f"weights-{n}-DELETE": "on"} if delete else {})}
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(reverse("admin:crm_source_change", args=[bot.pk]), form)
        assert response.status_code == 302, response.content[-3000:]

    save((row.pk, anna, 3, False))
    save((row.pk, anna, 2, False))
    assert drained == []
    assert dict(bot.weights.values_list("operator_id", "weight")) == {anna.pk: 2}
    save((row.pk, anna, 2, False), (None, boris, 1, False))
    assert drained == [[bot.pk]]
    assert bot.weights.count() == 2 and bot.history.count() == 1  # the source's own record, unchanged
    assert anna.weights.get().history.count() == 2  # created, lowered: the unchanged save wrote nothing


# --- The drain's report ----------------------------------------------------------------------------


def test_the_drain_skips_a_source_it_found_full_and_counts_exactly(rng, monkeypatch):
    """Mutants: the full source tried again for every contact (one lock each), its skipped contacts not
    counted as still waiting, or counted as assigned."""
    from distribution import router

    tried = []
    real = router.choose_for
    monkeypatch.setattr(
        queue, "choose_for", lambda contact, **kw: tried.append(contact.source_id) or real(contact, **kw)
    )
    busy, free = OperatorFactory(load_limit=0), OperatorFactory(load_limit=10)
    full_source, open_source = source_with(busy), source_with(free)
    now = timezone.now()
    for minutes in range(4):
        ContactFactory(source=full_source, operator=None, created_at=now - timedelta(minutes=10 + minutes))
    for minutes in range(3):
        ContactFactory(source=open_source, operator=None, created_at=now - timedelta(minutes=20 + minutes))
    report = drain(rng=rng)
    assert (report.assigned, report.still_waiting, report.too_old) == (3, 4, 0)
    assert Contact.objects.filter(operator=free).count() == 3
    assert tried.count(full_source.pk) == 1  # found full once, then skipped for the rest of the pass


# --- Returning leads -------------------------------------------------------------------------------


def test_a_returning_lead_goes_back_to_the_operator_of_its_latest_assigned_contact(rng):
    """Mutants: the oldest contact's operator (ASC), or the latest contact even when it waits unassigned."""
    anna, boris, cleo = OperatorFactory(), OperatorFactory(), OperatorFactory()
    source = source_with(anna, boris, cleo, weights=[1, 1, 1000], keep_operator=True)
    lead = LeadFactory()
    now = timezone.now()
    ContactFactory(lead=lead, source=source, operator=anna, created_at=now - timedelta(hours=3))
    ContactFactory(lead=lead, source=source, operator=boris, created_at=now - timedelta(hours=2))
    ContactFactory(lead=lead, source=source, operator=None, created_at=now - timedelta(hours=1))
    contact = store_contact(source=source, external_id=lead.external_id, rng=rng)
    assert contact.operator == boris and contact.explanation["path"] == "sticky"


# --- Hand assignment -------------------------------------------------------------------------------


def test_an_override_is_recorded_only_when_it_overrode_something(rng):
    """Mutant: the path taken from the override flag rather than from what the operator's state was."""
    anna = OperatorFactory(load_limit=5)
    contact = ContactFactory(source=source_with(anna), operator=None)
    assign_manually(contact=contact, operator=anna, by="sam", override=True)
    contact.refresh_from_db()
    assert contact.explanation["path"] == "manual"
    full = OperatorFactory(load_limit=0)
    assign_manually(contact=contact, operator=full, by="sam", override=True)
    contact.refresh_from_db()
    assert contact.explanation["path"] == "manual_override"


# --- Idempotency -----------------------------------------------------------------------------------


@pytest.mark.parametrize("changed", ["external_id", "name", "message"])
def test_an_idempotency_key_stands_for_every_field_of_the_request(changed):
    """Mutant: a request hash that leaves a field out (a reused key with another name would replay)."""
    source = source_with(OperatorFactory())
    fields = {"external_id": "u1", "name": "Ivan", "message": "hi"}
    first = receive_contact(source=source, idempotency_key="k-1", rng=random.Random(1), **fields)
    again = receive_contact(source=source, idempotency_key="k-1", rng=random.Random(1), **fields)
    assert again.replayed and again.contact.pk == first.contact.pk
    with pytest.raises(IdempotencyConflict):
        receive_contact(source=source, idempotency_key="k-1", **{**fields, changed: fields[changed] + "!"})


# --- The admin's weight inline ---------------------------------------------------------------------


def test_the_admin_inline_shows_the_load_in_the_window_only(admin_client, settings):
    """Mutants: the inline counting every contact (no window), or counting from the window start
    inclusive."""
    settings.LOAD_WINDOW_HOURS = 24
    anna = OperatorFactory(name="Anna", load_limit=9)
    source = source_with(anna)
    now = timezone.now()
    ContactFactory.create_batch(2, operator=anna, created_at=now - timedelta(hours=1))
    ContactFactory(operator=anna, created_at=now - timedelta(hours=30), assigned_at=now - timedelta(hours=25))
    page = admin_client.get(reverse("admin:crm_source_change", args=[source.pk])).text
    assert "2 / 9" in page and "3 / 9" not in page


def test_the_queues_bulk_actions_leave_alone_a_contact_taken_meanwhile(rng):
    """Mutant: assign_manually moving a contact that was waiting when the page read it, but got an operator
    before its turn (the queue's actions pass only_if_waiting)."""
    from distribution.manual import assign_each

    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    source = source_with(anna, boris)
    read, untouched = (
        ContactFactory(source=source, operator=None),
        ContactFactory(source=source, operator=None),
    )
    assign_manually(contact=read, operator=anna, by="someone else")  # after the page read it
    bulk = assign_each(contacts=[read, untouched], operator=boris, by="sam", only_if_waiting=True)
    assert (bulk.done, bulk.gone) == (1, 1)
    assert (
        Contact.objects.get(pk=read.pk).operator == anna
        and Contact.objects.get(pk=untouched.pk).operator == boris
    )
