"""One factory per model; every required field has a default, so a test sets only what it asserts."""

from collections.abc import Sequence
from html.parser import HTMLParser

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


def source_admin_form(source: Source, *, new_rows: Sequence[tuple[Operator, int]] = (), **fields) -> dict:
    """What the admin's source page posts, as it stands with `fields` changed (keep_operator: True/False;
    a row's keys as `weights-N-weight`, `weights-N-DELETE`, …): its weight rows as shown, then `new_rows`
    (operator, weight) in the blank rows below them."""
    data = {
        "name": source.name,
        "keep_operator": source.keep_operator,
        "accept_within_seconds": source.accept_within_seconds or "",
        "missed_offers_before_away": source.missed_offers_before_away,
        "strategy": source.strategy,
        "relax_preferred_after_seconds": source.relax_preferred_after_seconds or "",
    }
    if source.pk:
        data["required_skills"] = [skill.pk for skill in source.required_skills.all()]
        data["preferred_skills"] = [skill.pk for skill in source.preferred_skills.all()]
    rows = list(source.weights.order_by("pk")) if source.pk else []
    for n, row in enumerate(rows):
        data |= {f"weights-{n}-operator": row.operator_id, f"weights-{n}-weight": row.weight}
    # The page carries each value as it showed it ("initial-" fields, crm.admin.ChangedAsShown).
    data |= {f"initial-{key}": value for key, value in data.items()}
    for n, row in enumerate(rows):
        data |= {f"weights-{n}-id": row.pk, f"weights-{n}-source": source.pk}
    for n, (operator, weight) in enumerate(new_rows, len(rows)):
        data |= {f"weights-{n}-operator": operator.pk, f"weights-{n}-weight": weight}
    data |= {"weights-TOTAL_FORMS": len(rows) + len(new_rows), "weights-INITIAL_FORMS": len(rows)}
    data |= fields
    if data.pop("keep_operator"):
        data["keep_operator"] = "on"
    return {key: value if isinstance(value, list) else str(value) for key, value in data.items()}


class PageForm(HTMLParser):
    """What a browser would post from the page's form as it stands: every named input, select and textarea
    with its value (checkboxes only when checked, a select's selected options)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs) -> None:
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.data.setdefault(name, []).append(
                    a.get("value") or ("on" if a.get("type") == "checkbox" else "")
                )
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select].append(a.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea][0] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def page_form(html: str) -> dict[str, list[str]]:
    """What a browser would post from the page's form as it stands."""
    return PageForm(html).data
