"""Error answers: JSON under /api/, pages that extend base.html elsewhere.

Error pages are rendered without the request's context processors: the one that puts `user` in the context
reads the session from the database, which may be the very thing that failed.
"""

import json
import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.functional import lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views import csrf

from config.utf8json import json_response

log = logging.getLogger("leadflow.errors")

RETRY_AFTER_SECONDS = 5
API_PREFIX = "/api/"


def _unavailable() -> str:
    return ngettext(
        "The database is unavailable right now; nothing was changed. Try again in %(seconds)d second.",
        "The database is unavailable right now; nothing was changed. Try again in %(seconds)d seconds.",
        RETRY_AFTER_SECONDS,
    ) % {"seconds": RETRY_AFTER_SECONDS}


# Lazy: each answer is worded in its request's language (LocaleMiddleware: cookie or Accept-Language).
TITLES = {
    400: _("Bad request"),
    404: _("Page not found"),
    500: _("Server error"),
    503: _("Temporarily unavailable"),
}
MESSAGES = {
    400: _("The request could not be understood."),
    403: _("You may not do this."),
    404: _("Nothing is here."),
    500: _("Something went wrong on our side; it has been logged."),
    503: lazy(_unavailable, str)(),
}


def json_error(
    status: int, field: str, message: str, *, errors: dict[str, list[str]] | None = None, **headers: str
) -> JsonResponse:
    """The one shape of every API error: {"errors": {field: [message, ...], ...}}, in UTF-8."""
    return json_response({"errors": errors or {field: [message]}}, status=status, headers=headers)


def unreadable_json(exc: ValueError | RecursionError) -> str:
    """Why a body could not be read as JSON, in the active language (Python's own reason is English): where
    the JSON breaks, or that it is not UTF-8, or nested too deeply."""
    if isinstance(exc, json.JSONDecodeError):
        return gettext("Malformed JSON at line %(line)d, column %(column)d.") % {
            "line": exc.lineno,
            "column": exc.colno,
        }
    if isinstance(exc, UnicodeDecodeError):
        return gettext("The body is not valid UTF-8.")
    if isinstance(exc, RecursionError):
        return gettext("The JSON is nested too deeply.")
    return gettext("Malformed JSON.")


def too_many_failures(wait: int) -> JsonResponse:
    """The one answer for a client throttled after failed authentications: 429 with Retry-After."""
    return json_error(
        429,
        "authorization",
        ngettext(
            "Too many failed authentications from this address; try again in %(seconds)d second.",
            "Too many failed authentications from this address; try again in %(seconds)d seconds.",
            wait,
        )
        % {"seconds": wait},
        **{"Retry-After": str(wait)},
    )


def error_response(request: HttpRequest, status: int) -> HttpResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
    if request.path.startswith(API_PREFIX):
        return json_error(status, "database" if status == 503 else "request", MESSAGES[status], **headers)
    try:
        page = render_to_string("error.html", {"title": TITLES[status], "message": MESSAGES[status]})
    except Exception:
        # The error page must not fail in turn (say, collectstatic never ran): say it in plain text.
        log.exception("The %s page could not be rendered", status)
        return HttpResponse(str(MESSAGES[status]), status=status, headers=headers, content_type="text/plain")
    return HttpResponse(page, status=status, headers=headers)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return error_response(request, 400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    # 403 is the one error page that may use the request: the user is known (that is why it was refused).
    if request.path.startswith(API_PREFIX):
        return error_response(request, 403)
    return HttpResponse(render_to_string("403.html", request=request), status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return error_response(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    return error_response(request, 500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON under /api/ (an API client has no form to reload), Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return json_error(403, "csrf", gettext("CSRF verification failed: %(reason)s") % {"reason": reason})
    return csrf.csrf_failure(request, reason=reason)


class DatabaseUnavailableMiddleware:
    """The database being down or restarting is an outage, not a bug: answer 503 so that clients retry.

    The transaction the view was in has been rolled back, so nothing half-written remains. Django drops a
    broken connection at the end of the request, and the next request opens a new one: when the database
    is back, everything works again without restarting the app server.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        log.warning("status=503 %s %s database unavailable: %s", request.method, request.path, exception)
        return error_response(request, 503)
