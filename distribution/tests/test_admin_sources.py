"""A source's admin page writes what the supervisor changed on it, onto the source as stored: a page opened
before the API (or another supervisor) changed the source, its weights or its skills undoes none of that."""

import pytest
from django.urls import reverse

from crm import services
from crm.choices import Strategy
from crm.models import Skill, Source
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory, page_form, source_admin_form
from distribution import capacity

pytestmark = pytest.mark.django_db


def post(client, source: Source, form: dict) -> None:
    response = client.post(reverse("admin:crm_source_change", args=[source.pk]), form)
    assert response.status_code == 302, response.content[-3000:]


def weights(source: Source) -> dict[int, int]:
    return dict(source.weights.values_list("operator_id", "weight"))


def test_the_page_keeps_the_fields_changed_since_it_was_opened(admin_client):
    """Mutant: the whole source as the page showed it saved (strategy and offers undone)."""
    source = SourceFactory(name="Bot")
    page = source_admin_form(source, name="Site bot")
    services.update_source(source=source, strategy=Strategy.ROUND_ROBIN, accept_within_seconds=60)
    post(admin_client, source, page)
    stored = Source.objects.get(pk=source.pk)
    assert (stored.name, stored.strategy, stored.accept_within_seconds) == ("Site bot", "round_robin", 60)
    # A field the page did change is written, even back to what the page showed before the change.
    post(admin_client, stored, source_admin_form(stored, accept_within_seconds=""))
    assert Source.objects.get(pk=source.pk).accept_within_seconds is None


def test_weights_added_or_changed_since_the_page_was_opened_stay(admin_client):
    """Mutants: the rows as shown replace the set (Boris removed); every row shown written back (Anna's 7
    undone by a page that left her row alone)."""
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    source = SourceFactory()
    WeightFactory(source=source, operator=anna, weight=3)
    untouched, edited = source_admin_form(source), source_admin_form(source, **{"weights-0-weight": "5"})
    capacity.set_weights(source=source, weights={anna.pk: 7, boris.pk: 2})  # the API, meanwhile
    post(admin_client, source, untouched)
    assert weights(source) == {anna.pk: 7, boris.pk: 2}
    post(admin_client, source, edited)
    assert weights(source) == {anna.pk: 5, boris.pk: 2}


def test_rows_removed_or_given_another_operator_on_the_page_go(admin_client):
    """Mutant: a row given another operator keeps its old operator's weight too."""
    anna, boris, carl, dora = (OperatorFactory(name=name) for name in ("Anna", "Boris", "Carl", "Dora"))
    source = SourceFactory()
    WeightFactory(source=source, operator=anna, weight=3)
    WeightFactory(source=source, operator=boris, weight=2)
    page = source_admin_form(
        source, new_rows=[(carl, 4)], **{"weights-0-DELETE": "on", "weights-1-operator": dora.pk}
    )
    added = OperatorFactory(name="Eva")
    capacity.change_weights(source=source, weights={added.pk: 1})  # the API, meanwhile
    post(admin_client, source, page)
    assert weights(source) == {dora.pk: 2, carl.pk: 4, added.pk: 1}


def test_skills_changed_since_the_page_was_opened_stay(admin_client):
    """Mutant: the page's skill lists saved whether or not it changed them."""
    en, ru, vip = (Skill.objects.create(name=name) for name in ("en", "ru", "vip"))
    source = SourceFactory()
    capacity.set_source_skills(source=source, required=["en"])
    renamed = source_admin_form(source, name="Calls")
    more = source_admin_form(source, preferred_skills=[vip.pk], relax_preferred_after_seconds="60")
    capacity.set_source_skills(source=source, required=["en", "ru"])  # the API, meanwhile
    post(admin_client, source, renamed)
    assert sorted(source.required_skills.values_list("name", flat=True)) == ["en", "ru"]
    post(admin_client, source, more)
    assert sorted(source.required_skills.values_list("name", flat=True)) == ["en", "ru"]
    assert list(source.preferred_skills.values_list("name", flat=True)) == ["vip"]
    assert Source.objects.get(pk=source.pk).name == "Calls"


def test_the_page_itself_carries_what_it_showed(admin_client):
    """What the rendered page posts (not a test's idea of it): a page opened before the API changed the
    strategy, the skills and the weights, with only the name changed, changes only the name."""
    ru = Skill.objects.create(name="ru")
    anna, boris = OperatorFactory(name="Anna"), OperatorFactory(name="Boris")
    source = SourceFactory(name="Bot")
    WeightFactory(source=source, operator=anna, weight=3)
    page = admin_client.get(reverse("admin:crm_source_change", args=[source.pk])).text
    form = page_form(page)
    assert form["initial-name"] == ["Bot"] and form["initial-weights-0-weight"] == ["3"]
    form["name"] = ["Site bot"]
    services.update_source(source=source, strategy=Strategy.LEAST_LOADED)
    capacity.set_source_skills(source=source, required=["ru"])
    capacity.set_weights(source=source, weights={anna.pk: 4, boris.pk: 1})
    post(admin_client, source, form)
    stored = Source.objects.get(pk=source.pk)
    assert (stored.name, stored.strategy) == ("Site bot", Strategy.LEAST_LOADED)
    assert list(stored.required_skills.all()) == [ru]
    assert weights(source) == {anna.pk: 4, boris.pk: 1}
