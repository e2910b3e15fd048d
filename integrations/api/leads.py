"""/api/v1/leads: list with the staff list's filters, read with the newest contacts."""

from datetime import datetime

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_noop
from ninja import Field, FilterSchema, Query, Router, Schema
from ninja.pagination import paginate
from pydantic import ConfigDict

from crm.models import Contact, Lead, LeadQuerySet
from integrations.api.common import Id, LimitOffset, errors, get_or_404
from integrations.api.contacts import ContactOut


class LeadOut(Schema):
    id: int
    external_id: str
    name: str
    created_at: datetime
    updated_at: datetime


class LeadFilter(FilterSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "description": gettext_noop("As the staff lead list filters (crm.models.LeadQuerySet).")
        }
    )

    q: str | None = Field(
        None, min_length=1, description=gettext_noop("Part of the external id or the name (any case).")
    )
    source: Id | None = Field(None, description=gettext_noop("Leads with a contact from this source."))
    operator: Id | None = Field(
        None, description=gettext_noop("Leads with a contact handled by this operator.")
    )
    waiting: bool | None = Field(
        None, description=gettext_noop("true: leads with a contact waiting for an operator.")
    )

    def filter_q(self, value: str | None) -> Q:
        return Q(external_id__icontains=value) | Q(name__icontains=value) if value else Q()

    def filter_source(self, value: int | None) -> Q:
        return LeadQuerySet.having(source_id=value) if value else Q()

    def filter_operator(self, value: int | None) -> Q:
        return LeadQuerySet.having(operator_id=value) if value else Q()

    def filter_waiting(self, value: bool | None) -> Q:
        waiting = LeadQuerySet.having(operator__isnull=True)
        return Q() if value is None else waiting if value else ~waiting


class LeadDetail(LeadOut):
    contact_count: int
    contacts: list[ContactOut] = Field(
        description=gettext_noop("The newest contacts (see `/contacts?lead=` for all).")
    )


# A lead read alone shows this many of its newest contacts (all of them: /contacts?lead=).
LEAD_CONTACTS_SHOWN = 100

router = Router(tags=["leads"])


@router.get(
    "",
    response={200: list[LeadOut], **errors(400)},
    summary=gettext_noop("List leads"),
    description=gettext_noop("Newest first."),
)
@paginate(LimitOffset)
def list_leads(request: HttpRequest, filters: Query[LeadFilter]) -> QuerySet[Lead]:
    return filters.filter(Lead.objects.all())


@router.get(
    "/{int:lead_id}",
    response={200: LeadDetail, **errors(404)},
    summary=gettext_noop("Get a lead with its newest contacts"),
)
def get_lead(request: HttpRequest, lead_id: int) -> dict:
    lead = get_or_404(Lead.objects.all(), lead_id, "lead")
    contacts = Contact.objects.filter(lead=lead).defer("explanation")
    return {
        **LeadOut.from_orm(lead).dict(),
        "contact_count": contacts.count(),
        "contacts": list(contacts[:LEAD_CONTACTS_SHOWN]),
    }
