"""The integration API under /api/v1/ (django-ninja): operators (their presence and schedules), company
holidays, sources and weights, leads, contacts, stats, and the subscriptions to outbound events.

Endpoints are thin: they parse (the schemas), call the same services the admin uses (crm.services,
distribution.manual) or the dashboard's selectors, and answer. Every error has the webhook's shape,
{"errors": {field: [message]}} (config.errors.json_error):

- 400: a malformed body or an invalid field, whether the schema or the service found it;
- 401: no key, or an unknown or revoked one; 403: a read-only key asked to write;
- 404: no object with the id in the path (or an unknown path);
- 405: a method the path does not take; 409: a state conflict (an assignment the rules refuse).
"""

from functools import wraps

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.utils.translation import gettext, gettext_noop
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import Swagger
from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder

from config.errors import json_error, too_many_failures, unreadable_json
from config.utf8json import UTF8, Utf8Encoding
from distribution.throttling import TooManyFailures
from integrations import openapi
from integrations.api import validation
from integrations.auth import read_key


class Utf8NinjaEncoder(Utf8Encoding, NinjaJSONEncoder):
    pass


class Utf8Renderer(JSONRenderer):
    """ninja's JSON renderer, writing UTF-8 rather than \\u escapes (config.utf8json)."""

    encoder_class = Utf8NinjaEncoder
    json_dumps_params = UTF8


class LeadflowAPI(NinjaAPI):
    """NinjaAPI with the house's error shape on every answer, and the webhook in its schema, whose texts
    follow the request's language."""

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict | None = None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        openapi.add_webhook(schema)
        openapi.add_events(schema)
        schema = openapi.translated(schema)  # our texts in the request's language
        schema["info"]["title"] = gettext(schema["info"]["title"])
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
    title=gettext_noop("Leadflow integration API"),
    version="1",
    description=openapi.DESCRIPTION,
    urls_namespace="api-v1",
    auth=read_key,
    renderer=Utf8Renderer(),
    # No validator badge: Swagger UI would fetch it from validator.swagger.io, and machines may be offline.
    docs=Swagger(settings={"validatorUrl": None, "persistAuthorization": True, "tryItOutEnabled": False}),
)


# --- Errors: one shape for all -------------------------------------------------------------------


@api.exception_handler(NinjaValidationError)
def invalid_request(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    found: dict[str, list[str]] = {}
    for error in exc.errors:
        where, *path = [str(part) for part in error["loc"]]
        if where == "body" and path[:1] == ["payload"]:  # every body parameter is named `payload`
            path = path[1:]
        found.setdefault(".".join(path) or where, []).append(validation.message(error))
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
    if isinstance(exc.__cause__, ValueError | RecursionError):  # ninja could not read the body as JSON
        return json_error(exc.status_code, field, unreadable_json(exc.__cause__))
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


# The resources, each a module of its own (after `api`, which they do not import).
from integrations.api import (  # noqa: E402
    contacts,
    leads,
    operators,
    schedules,
    skills,
    sources,
    stats,
    subscriptions,
)

api.add_decorator(only_known_query_parameters, mode="view")
api.add_router("/operators", operators.router)
api.add_router("/operators", schedules.router)  # /operators/{id}/schedule
api.add_router("/operators", skills.operator_skills)  # /operators/{id}/skills
api.add_router("/holidays", schedules.holidays)
api.add_router("/skills", skills.router)
api.add_router("/sources", sources.router)
api.add_router("/leads", leads.router)
api.add_router("/contacts", contacts.router)
api.add_router("/stats", stats.router)
api.add_router("/subscriptions", subscriptions.router)
