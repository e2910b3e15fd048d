import pytest
from django.core.management import CommandError, call_command

from crm.models import Contact, Lead
from crm.tests.factories import OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db


def test_demo_traffic_goes_through_the_service_once():
    WeightFactory(source=SourceFactory(), operator=OperatorFactory(load_limit=5))
    call_command("demo_traffic", contacts=12, seed=1)
    assert Contact.objects.count() == 12
    assert Contact.objects.exclude(operator=None).count() == 5  # the limit holds for demo data too
    assert Lead.objects.count() <= 12
    call_command("demo_traffic", contacts=12, seed=1)
    assert Contact.objects.count() == 12


def test_demo_traffic_needs_sources():
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("demo_traffic")


def test_a_fresh_demo_opens_on_a_calm_dashboard():
    """bin/run's demo data: nobody full, no source blocked, nobody waiting."""
    from django.utils import timezone

    from crm import selectors

    call_command("seed_demo", admin_password="first-pass-123")
    call_command("demo_traffic")
    board = selectors.dashboard(now=timezone.now())
    assert Contact.objects.count() > 0 and board.waiting.count == 0
    assert not board.blocked and not [row for row in board.loads if row.is_full]
