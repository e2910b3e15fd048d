"""The integration API under /api/v1/ (django-ninja): operators, sources and weights, leads, contacts, stats.

Endpoints are thin: they parse (the schemas), call the same services the admin uses (crm.services,
distribution.manual) or the dashboard's selectors, and answer. Every error has the webhook's shape,
{"errors": {field: [message]}} (config.errors.json_error):

- 400: a malformed body or an invalid field, whether the schema or the service found it;
- 401: no key, or an unknown or revoked one; 403: a read-only key asked to write;
- 404: no object with the id in the path (or an unknown path);
- 405: a method the path does not take; 409: a state conflict (an assignment the rules refuse).
"""

from functools import wraps

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI, Query, Router, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import Swagger
from ninja.pagination import paginate

from config.errors import json_error, too_many_failures
from crm import selectors
from crm import services as crm_services
from crm.models import Contact, Lead, Operator, Source, SourceOperatorWeight
from distribution.manual import AssignmentRefused, assign_manually
from distribution.throttling import TooManyFailures
from integrations import openapi
from integrations.auth import read_key, write_key
from integrations.schemas import (
    MAX_ID,
    AssignIn,
    ContactDetail,
    ContactFilter,
    ContactOut,
    ErrorOut,
    LeadDetail,
    LeadFilter,
    LeadOut,
    LimitOffset,
    OperatorChanged,
    OperatorFilter,
    OperatorIn,
    OperatorOut,
    OperatorPatch,
    SourceChanged,
    SourceCreated,
    SourceDetail,
    SourceIn,
    SourceOut,
    StatsOut,
    WeightsIn,
)

LEAD_CONTACTS_SHOWN = 100


class LeadflowAPI(NinjaAPI):
    """NinjaAPI with the house's error shape on every answer and the webhook in its schema."""

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict | None = None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        openapi.add_webhook(schema)
        return schema

    @property
    def urls(self) -> tuple[list, str, str]:
        patterns, app_name, namespace = super().urls
        for pattern in patterns:
            pattern.callback = _json_405(pattern.callback)
        return patterns, app_name, namespace


def _json_405(view):
    """ninja answers a method a path does not take with a plain-text 405; give it the JSON error shape."""

    @wraps(view)  # keeps csrf_exempt: API keys, not cookies, authenticate these views
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            return json_error(
                405,
                "method",
                gettext("Use %(method)s.") % {"method": response["Allow"]},
                Allow=response["Allow"],
            )
        return response

    return wrapper


def only_known_query_parameters(run):
    """A "view" decorator of every operation: a query parameter the operation does not take is a 400 that
    names it, rather than silently ignored (`?operator_id=6` would otherwise list every contact)."""
    operation = run.__self__
    known = {
        name
        for model in operation.models
        if model.__ninja_param_source__ == "query"
        for name in getattr(model, "__ninja_flatten_map__", None) or model.model_fields
    }

    @wraps(run)
    def checked(request: HttpRequest, **kwargs) -> HttpResponse:
        if unknown := sorted(set(request.GET) - known):
            allowed = ", ".join(sorted(known)) or gettext("none")
            message = gettext("Unknown query parameter; this operation takes: %(allowed)s.") % {
                "allowed": allowed
            }
            return json_error(400, "", "", errors={name: [message] for name in unknown})
        return run(request, **kwargs)

    return checked


api = LeadflowAPI(
    title="Leadflow integration API",
    version="1",
    description=openapi.DESCRIPTION,
    urls_namespace="api-v1",
    auth=read_key,
    # No validator badge: Swagger UI would fetch it from validator.swagger.io, and machines may be offline.
    docs=Swagger(settings={"validatorUrl": None, "persistAuthorization": True, "tryItOutEnabled": False}),
)


def errors(*statuses: int) -> dict[int, type[ErrorOut]]:
    """Declare error answers in the schema: 401 always (every operation needs a key), plus these."""
    return {status: ErrorOut for status in (401, *statuses)}


# --- Errors: one shape for all -------------------------------------------------------------------


@api.exception_handler(NinjaValidationError)
def invalid_request(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    found: dict[str, list[str]] = {}
    for error in exc.errors:
        where, *path = [str(part) for part in error["loc"]]
        if where == "body" and path[:1] == ["payload"]:  # every body parameter is named `payload`
            path = path[1:]
        # A validator's own message, without pydantic's "Value error, " in front of it.
        message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
        found.setdefault(".".join(path) or where, []).append(message)
    return json_error(400, "", "", errors=found)


@api.exception_handler(DjangoValidationError)
def invalid_change(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    if hasattr(exc, "error_dict"):
        found = {("request" if f == NON_FIELD_ERRORS else f): msgs for f, msgs in exc.message_dict.items()}
    else:
        found = {"request": exc.messages}
    return json_error(400, "", "", errors=found)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc, AuthenticationError):
        return json_error(
            401,
            "authorization",
            gettext(
                "Send a valid API key: 'Authorization: Bearer <key>' (unknown or revoked keys are refused)."
            ),
            **{"WWW-Authenticate": 'Bearer realm="leadflow"'},
        )
    field = {400: "body", 403: "authorization"}.get(exc.status_code, "request")
    return json_error(exc.status_code, field, str(exc))


@api.exception_handler(TooManyFailures)
def throttled(request: HttpRequest, exc: TooManyFailures) -> HttpResponse:
    return too_many_failures(exc.wait)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return json_error(404, "id", str(exc) or gettext("Nothing is here."))


@api.exception_handler(IntegrityError)
def conflict(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
    # A database constraint refused a change the validation let through: a concurrent change (two
    # sources created with one name at once). The statement's transaction was rolled back whole.
    return json_error(
        409, "request", gettext("The change conflicts with another one made at the same time; retry.")
    )


@api.exception_handler(Exception)
def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Re-raised to Django: a database outage becomes 503 with Retry-After (config.errors middleware), a
    # bug a logged 500; both in the same JSON shape under /api/.
    raise exc


# One sentence per kind of object: a translation needs the whole sentence, not a word put into one.
NOT_FOUND = {
    "operator": _("No operator with id %(id)s."),
    "source": _("No source with id %(id)s."),
    "lead": _("No lead with id %(id)s."),
    "contact": _("No contact with id %(id)s."),
}


def get_or_404(queryset: QuerySet, pk: int, what: str) -> Model:
    obj = queryset.filter(pk=pk).first() if 1 <= pk <= MAX_ID else None
    if obj is None:
        raise Http404(NOT_FOUND[what] % {"id": pk})
    return obj


# --- Operators -----------------------------------------------------------------------------------

operators = Router(tags=["operators"])


@operators.get("", response={200: list[OperatorOut], **errors(400)}, summary="List operators")
@paginate(LimitOffset)
def list_operators(request: HttpRequest, filters: Query[OperatorFilter]) -> QuerySet[Operator]:
    return filters.filter(Operator.objects.with_load())


@operators.get("/{int:operator_id}", response={200: OperatorOut, **errors(404)}, summary="Get an operator")
def get_operator(request: HttpRequest, operator_id: int) -> Operator:
    return get_or_404(Operator.objects.with_load(), operator_id, "operator")


@operators.post(
    "", auth=write_key, response={201: OperatorOut, **errors(400, 403)}, summary="Create an operator"
)
def create_operator(request: HttpRequest, payload: OperatorIn) -> Status[Operator]:
    operator = crm_services.create_operator(**payload.dict())
    return Status(201, Operator.objects.with_load().get(pk=operator.pk))


@operators.patch(
    "/{int:operator_id}",
    auth=write_key,
    response={200: OperatorChanged, **errors(400, 403, 404)},
    summary="Change an operator",
    description="Any subset of `name`, `is_active`, `load_limit`. Switching an operator on or raising its "
    "limit routes waiting contacts at once, as in the admin.",
)
def update_operator(request: HttpRequest, operator_id: int, payload: OperatorPatch) -> dict:
    operator = get_or_404(Operator.objects.all(), operator_id, "operator")
    routed = crm_services.update_operator(operator=operator, **payload.dict(exclude_unset=True))
    changed = Operator.objects.with_load().get(pk=operator.pk)
    return {**OperatorOut.from_orm(changed).dict(), "waiting_assigned": routed.assigned}


# --- Sources -------------------------------------------------------------------------------------

sources = Router(tags=["sources"])


@sources.get("", response={200: list[SourceOut], **errors(400)}, summary="List sources")
@paginate(LimitOffset)
def list_sources(request: HttpRequest) -> QuerySet[Source]:
    return Source.objects.all()


@sources.get("/{int:source_id}", response={200: SourceDetail, **errors(404)}, summary="Get a source")
def get_source(request: HttpRequest, source_id: int) -> dict:
    return source_detail(get_or_404(Source.objects.all(), source_id, "source"))


@sources.post(
    "",
    auth=write_key,
    response={201: SourceCreated, **errors(400, 403)},
    summary="Create a source",
    description="Answers with the webhook `token`, shown only this once (only its digest is stored).",
)
def create_source(request: HttpRequest, payload: SourceIn) -> Status[Source]:
    source, _token = crm_services.create_source(**payload.dict())
    return Status(201, source)  # source.token holds the new token


@sources.put(
    "/{int:source_id}/weights",
    auth=write_key,
    response={200: SourceChanged, **errors(400, 403, 404)},
    summary="Replace a source's weights",
    description="The whole set at once, atomically: every operator must exist, each once, with a weight of "
    "at least 1; operators left out stop receiving the source's contacts. An empty list removes them all.",
)
def set_weights(request: HttpRequest, source_id: int, payload: WeightsIn) -> dict:
    source = get_or_404(Source.objects.all(), source_id, "source")
    try:
        routed = crm_services.set_weights(
            source=source, weights={w.operator_id: w.weight for w in payload.weights}
        )
    except Source.DoesNotExist:  # deleted since it was found
        raise Http404(NOT_FOUND["source"] % {"id": source_id}) from None
    return {**source_detail(source), "waiting_assigned": routed.assigned}


def source_detail(source: Source) -> dict:
    """The source with its configured weights and the dashboard's figures for it (404 once it is gone)."""
    overview = selectors.source_overview(now=timezone.now(), source_id=source.pk)
    if overview is None:  # deleted since it was found
        raise Http404(NOT_FOUND["source"] % {"id": source.pk})
    return {
        **SourceOut.from_orm(source).dict(),
        **source_figures(overview),
        "weights": list(SourceOperatorWeight.objects.filter(source=source).values("operator_id", "weight")),
    }


def source_figures(overview: selectors.SourceOverview) -> dict:
    return {
        "assigned": overview.assigned,
        "free": overview.free,
        "blocked": overview.blocked or None,
        "waiting": waiting_figures(overview.waiting),
        "operators": [
            {
                "operator_id": row.operator.pk,
                "name": row.operator.name,
                "weight": row.weight,
                "weight_share": row.weight_share,
                "contacts": row.contacts,
                "actual_share": row.actual_share,
            }
            for row in overview.rows
        ],
    }


def waiting_figures(waiting: selectors.Waiting) -> dict:
    return {"count": waiting.count, "oldest": waiting.oldest, "past_max_age": waiting.too_old}


# --- Leads ---------------------------------------------------------------------------------------

leads = Router(tags=["leads"])


@leads.get(
    "", response={200: list[LeadOut], **errors(400)}, summary="List leads", description="Newest first."
)
@paginate(LimitOffset)
def list_leads(request: HttpRequest, filters: Query[LeadFilter]) -> QuerySet[Lead]:
    return filters.filter(Lead.objects.all())


@leads.get(
    "/{int:lead_id}", response={200: LeadDetail, **errors(404)}, summary="Get a lead with its newest contacts"
)
def get_lead(request: HttpRequest, lead_id: int) -> dict:
    lead = get_or_404(Lead.objects.all(), lead_id, "lead")
    contacts = Contact.objects.filter(lead=lead).defer("explanation")
    return {
        **LeadOut.from_orm(lead).dict(),
        "contact_count": contacts.count(),
        "contacts": list(contacts[:LEAD_CONTACTS_SHOWN]),
    }


# --- Contacts ------------------------------------------------------------------------------------

contacts = Router(tags=["contacts"])


@contacts.get(
    "", response={200: list[ContactOut], **errors(400)}, summary="List contacts", description="Newest first."
)
@paginate(LimitOffset)
def list_contacts(request: HttpRequest, filters: Query[ContactFilter]) -> QuerySet[Contact]:
    return filters.filter(Contact.objects.defer("explanation"))


@contacts.get(
    "/{int:contact_id}",
    response={200: ContactDetail, **errors(404)},
    summary="Get a contact with the explanation of its assignment",
)
def get_contact(request: HttpRequest, contact_id: int) -> Contact:
    return get_or_404(Contact.objects.all(), contact_id, "contact")


@contacts.post(
    "/{int:contact_id}/assign",
    auth=write_key,
    response={200: ContactDetail, **errors(400, 403, 404, 409)},
    summary="Assign a contact by hand, or route it again",
    description='`{"operator_id": 3}` gives it to that operator (refused with 409 if the operator is '
    'inactive or at the limit, unless `"override": true`); `{"route_again": true}` draws again among the '
    "source's other operators (409 when nobody else is free).",
)
def assign_contact(request: HttpRequest, contact_id: int, payload: AssignIn) -> Contact:
    contact = get_or_404(Contact.objects.all(), contact_id, "contact")
    if (payload.operator_id is None) == (not payload.route_again):
        raise DjangoValidationError(
            {"operator_id": gettext('Send either an operator_id or "route_again": true.')}
        )
    operator = None
    if payload.operator_id is not None:
        operator = Operator.objects.filter(pk=payload.operator_id).first()
        if operator is None:
            raise DjangoValidationError({"operator_id": NOT_FOUND["operator"] % {"id": payload.operator_id}})
    try:
        assign_manually(
            contact=contact, operator=operator, by=f"api:{request.auth.name}", override=payload.override
        )
    except AssignmentRefused as exc:
        if operator is None:
            return json_error(409, "route_again", str(exc))
        return json_error(
            409, "operator_id", gettext('%(refusal)s (API: send "override": true.)') % {"refusal": exc}
        )
    return Contact.objects.get(pk=contact.pk)


# --- Statistics ----------------------------------------------------------------------------------

stats = Router(tags=["stats"])


@stats.get(
    "",
    response={200: StatsOut, **errors()},
    summary="The dashboard's numbers",
    description="Per operator load against limit; per source configured weight share against actual share in "
    "the load window; the queue of unassigned contacts. All taken at one moment (`at`), by the same code as "
    "the staff dashboard.",
)
def get_stats(request: HttpRequest) -> dict:
    board = selectors.dashboard(now=timezone.now())
    assigned = sum(row.load for row in board.loads)
    return {
        "at": board.now,
        "window_hours": settings.LOAD_WINDOW_HOURS,
        "operators": [
            {
                "id": row.operator.pk,
                "name": row.operator.name,
                "is_active": row.operator.is_active,
                "load": row.load,
                "load_limit": row.operator.load_limit,
                "load_percent": row.percent,
                "is_full": row.is_full,
                "frees_at": row.frees_at,
                "share": round(100 * row.load / assigned, 1) if assigned else 0.0,
            }
            for row in board.loads
        ],
        "sources": [{"id": s.source.pk, "name": s.source.name, **source_figures(s)} for s in board.sources],
        "unassigned": {**waiting_figures(board.waiting), "max_age_hours": settings.UNASSIGNED_MAX_AGE_HOURS},
    }


api.add_decorator(only_known_query_parameters, mode="view")
api.add_router("/operators", operators)
api.add_router("/sources", sources)
api.add_router("/leads", leads)
api.add_router("/contacts", contacts)
api.add_router("/stats", stats)
