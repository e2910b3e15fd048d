from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.eligibility import window_start
from crm.models import Contact, Lead, Operator, Source, SourceOperatorWeight, SourceToken
from crm.secrets import token_digest
from crm.tests.factories import ContactFactory, LeadFactory, OperatorFactory, SourceFactory, WeightFactory

pytestmark = pytest.mark.django_db


def test_a_duplicate_external_id_is_a_validation_error_naming_the_field():
    # What a form (the admin's) shows: unique by a constraint, checked by full_clean as the field's unique=True was.
    LeadFactory(external_id="user123")
    with pytest.raises(ValidationError) as caught:
        Lead(external_id="user123").full_clean()
    assert caught.value.message_dict == {"external_id": ["Lead with this External id already exists."]}


@pytest.mark.postgres
def test_on_postgresql_the_external_id_has_one_btree_index_the_unique_one():
    # unique=True on a CharField also makes a LIKE 'prefix%' index (varchar_pattern_ops) that no query here
    # reads and every new lead paid for (migration 0019).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'crm_lead' AND indexdef LIKE %s",
            ["%USING btree (external_id%"],
        )
        found = dict(cursor.fetchall())
    assert list(found) == ["crm_lead_external_id_key"] and "UNIQUE" in found["crm_lead_external_id_key"], (
        found
    )


def test_external_id_is_unique_in_the_database():
    LeadFactory(external_id="user123")
    with pytest.raises(IntegrityError), transaction.atomic():
        Lead.objects.create(external_id="user123")
    assert Lead.objects.filter(external_id="user123").count() == 1


def test_one_weight_row_per_source_and_operator():
    weight = WeightFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        SourceOperatorWeight.objects.create(source=weight.source, operator=weight.operator, weight=5)


@pytest.mark.parametrize("weight", [0, -1])
def test_weight_must_be_positive_in_the_database(weight):
    with pytest.raises(IntegrityError), transaction.atomic():
        WeightFactory(weight=weight)


def test_negative_load_limit_is_rejected_by_the_database():
    operator = OperatorFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Operator.objects.filter(pk=operator.pk).update(load_limit=-1)


def test_zero_load_limit_is_allowed():
    assert OperatorFactory(load_limit=0).load_limit == 0


def test_source_name_is_unique():
    SourceFactory(name="Site form")
    with pytest.raises(IntegrityError), transaction.atomic():
        Source.objects.create(name="Site form")


def test_token_is_generated_long_random_unique_and_only_its_digest_is_stored():
    first, second = SourceFactory(), SourceFactory()
    assert len(first.token) >= 40 and first.token != second.token
    stored = SourceToken.objects.filter(source=first).values_list("digest", "prefix", "expires_at").get()
    assert stored == (token_digest(first.token), first.token[:8], None)
    assert Source.objects.get(pk=first.pk).token_prefix == first.token[:8]
    rows = [*Source.objects.filter(pk=first.pk).values(), *SourceToken.objects.filter(source=first).values()]
    assert first.token not in str(rows)
    assert Source.objects.get(pk=first.pk).token == ""  # a source read back knows no token


def test_duplicate_digest_is_rejected_by_the_database():
    first, second = SourceFactory(), SourceFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        SourceToken.objects.filter(source=second).update(digest=token_digest(first.token))


def test_unassigned_contact_needs_a_reason_and_assigned_one_none():
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactFactory(operator=None, unassigned_reason="")
    with pytest.raises(IntegrityError), transaction.atomic():
        ContactFactory(unassigned_reason="all_at_limit")


def test_load_counts_only_the_window(settings):
    settings.LOAD_WINDOW_HOURS = 24
    now = timezone.now()
    operator, other = OperatorFactory(), OperatorFactory()
    ContactFactory(operator=operator, created_at=now - timedelta(hours=23, minutes=59))
    ContactFactory(operator=operator, created_at=now - timedelta(hours=24, seconds=1))
    ContactFactory(operator=other, created_at=now)
    ContactFactory(operator=None, created_at=now)

    loads = dict(Operator.objects.with_load(now).values_list("name", "load"))
    assert loads == {operator.name: 1, other.name: 1}
    assert Contact.objects.in_window(now).count() == 2
    assert window_start(now) == now - timedelta(hours=24)


def test_load_counts_by_assignment_time_and_the_window_start_is_excluded(settings):
    """A contact that arrived long ago and was assigned now is work now; one assigned exactly at the
    window's start has left it (pins `assigned_at__gt`, not `__gte`, and not `created_at`)."""
    settings.LOAD_WINDOW_HOURS = 24
    now = timezone.now()
    operator = OperatorFactory()
    ContactFactory(
        operator=operator, created_at=now - timedelta(hours=40), assigned_at=now - timedelta(minutes=1)
    )
    ContactFactory(operator=operator, created_at=now - timedelta(hours=30), assigned_at=window_start(now))
    ContactFactory(
        operator=operator,
        created_at=now - timedelta(hours=1),
        assigned_at=window_start(now) + timedelta(microseconds=1),
    )
    assert Operator.objects.with_load(now).get().load == 2


def test_deleting_a_lead_deletes_its_contacts_but_operators_with_history_are_protected():
    contact = ContactFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        contact.operator.delete()
    contact.lead.delete()
    assert not Contact.objects.exists()


@pytest.mark.parametrize("kind", ["year", "month", "day"])
def test_date_hierarchy_periods_match_djangos_distinct_scan(settings, kind):
    settings.TIME_ZONE = "America/New_York"  # daylight saving time shifts day boundaries twice a year
    start = datetime(2024, 12, 30, 23, 30, tzinfo=UTC)
    for hours in (0, 1, 5, 30, 24 * 40, 24 * 70 + 3, 24 * 400, 24 * 401):
        ContactFactory(created_at=start + timedelta(hours=hours))
    operator = ContactFactory(created_at=start + timedelta(days=3)).operator

    for queryset in (
        Contact.objects.all(),
        Contact.objects.filter(operator=operator),
        Contact.objects.none(),
    ):
        djangos = list(QuerySet.datetimes(queryset, "created_at", kind))
        assert list(queryset.datetimes("created_at", kind)) == djangos
        assert list(queryset.datetimes("created_at", kind, order="DESC")) == djangos[::-1]
    assert len(Contact.objects.datetimes("created_at", kind)) > 1


def test_date_hierarchy_periods_take_a_few_queries_however_many_contacts(django_assert_max_num_queries):
    now = timezone.now()
    for days in range(200):
        ContactFactory(created_at=now - timedelta(days=days))
    with django_assert_max_num_queries(3):  # one lookup per year that has contacts (at most two), one more
        years = Contact.objects.datetimes("created_at", "year")
    assert 1 <= len(years) <= 2


@pytest.mark.parametrize("bad", ["nul\x00", "bell\x07", "\ud800", "tab\there"])
def test_services_refuse_control_characters_in_names(bad):
    from django.core.exceptions import ValidationError

    from crm import services

    with pytest.raises(ValidationError):
        services.create_operator(name=bad)
    with pytest.raises(ValidationError):
        services.create_source(name=bad)
    assert not Operator.objects.exists() and not Source.objects.exists()


def test_control_characters_are_exactly_unicodes_cc_and_cs():
    import sys
    import unicodedata

    from django.core.exceptions import ValidationError

    from crm.validators import multi_line, single_line

    def refused(validator, ch: str) -> bool:
        try:
            validator(ch)
        except ValidationError:
            return True
        return False

    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        bad = unicodedata.category(ch) in ("Cc", "Cs")
        assert refused(single_line, ch) == bad, hex(code)
        assert refused(multi_line, ch) == (bad and ch not in "\n\r\t"), hex(code)
