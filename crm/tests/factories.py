"""One factory per model; every required field has a default, so a test sets only what it asserts."""

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from crm import services
from crm.choices import ContactState, UnassignedReason
from crm.models import Contact, Lead, Operator, Source, SourceOperatorWeight


class OperatorFactory(DjangoModelFactory):
    class Meta:
        model = Operator

    name = factory.Sequence(lambda n: f"Operator {n}")
    is_active = True
    load_limit = 10


class SourceFactory(DjangoModelFactory):
    """A source made as the services make one: with a current webhook token, the plain one in `.token`."""

    class Meta:
        model = Source

    name = factory.Sequence(lambda n: f"Source {n}")

    @classmethod
    def _create(cls, model_class: type[Source], *args, **kwargs) -> Source:
        source = model_class(*args, **kwargs)
        services.add_source(source=source)
        return source


class WeightFactory(DjangoModelFactory):
    class Meta:
        model = SourceOperatorWeight

    source = factory.SubFactory(SourceFactory)
    operator = factory.SubFactory(OperatorFactory)
    weight = 1


class LeadFactory(DjangoModelFactory):
    class Meta:
        model = Lead

    external_id = factory.Sequence(lambda n: f"lead-{n}")


class ContactFactory(DjangoModelFactory):
    """A stored contact as the service would leave it; pass operator=None for an unassigned one."""

    class Meta:
        model = Contact

    lead = factory.SubFactory(LeadFactory)
    source = factory.SubFactory(SourceFactory)
    operator = factory.SubFactory(OperatorFactory)
    created_at = factory.LazyFunction(timezone.now)
    # Assigned on arrival unless a test says otherwise; the load counts by assigned_at.
    assigned_at = factory.LazyAttribute(lambda c: c.created_at if c.operator else None)
    unassigned_reason = factory.LazyAttribute(lambda c: "" if c.operator else UnassignedReason.ALL_AT_LIMIT)
    state = factory.LazyAttribute(lambda c: ContactState.ASSIGNED if c.operator else ContactState.WAITING)


def operator_admin_form(operator: Operator, **fields) -> dict:
    """What the admin's operator page posts, as it stands with `fields` changed (is_active: True/False); no
    schedule rows unless given as `shift_intervals-…` / `schedule_exceptions-…` keys with their counts."""
    data = {
        "name": operator.name,
        "load_limit": str(operator.load_limit),
        "is_active": operator.is_active,
        "user": operator.user_id or "",
        "presence": operator.presence,
        "presence_reason": operator.presence_reason,
        "presence_until_0": "",
        "presence_until_1": "",
        "timezone": operator.timezone,
    }
    if operator.pk:
        data["skills"] = [skill.pk for skill in operator.skills.all()]
    # The page carries each value as it showed it ("initial-" fields: what the supervisor changed is told
    # from what changed meanwhile, distribution.admin.operators.OperatorForm).
    data |= {f"initial-{key}": value for key, value in data.items()}
    for prefix in ("shift_intervals", "schedule_exceptions"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    data |= fields
    if data.pop("is_active"):
        data["is_active"] = "on"
    return {key: value if isinstance(value, list) else str(value) for key, value in data.items()}
