"""The channels' webhook and the health check. Views parse, make one service call, and answer in JSON."""

import logging
import time

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt

from config.errors import RETRY_AFTER_SECONDS, json_error, too_many_failures
from config.utf8json import json_response
from distribution import webhook
from distribution.intake import IdempotencyConflict, SourceGone, receive_contact
from distribution.throttling import TooManyFailures, record_failure
from throttle.services import client_ip

log = logging.getLogger("leadflow.intake")


@csrf_exempt
def contacts_webhook(request: HttpRequest) -> JsonResponse:
    """POST /api/contacts/: store a contact from a channel and say which operator took it.

    A database outage raises out of here and becomes a 503 with Retry-After (config.errors).
    """
    started = time.monotonic()
    source = None
    try:
        if request.method != "POST":
            return json_error(405, "method", gettext("Use %(method)s.") % {"method": "POST"}, Allow="POST")
        webhook.declared_size_ok(request)
        route, confirmed = webhook.caller(request)
        source = route.source
        try:
            key = webhook.idempotency_key(request)
            payload = webhook.parse(request)
            if payload.source_id is not None and payload.source_id != source.pk:
                raise webhook.WebhookError(403, "source_id", gettext("The token belongs to another source."))
            webhook.known_skills(payload.skills)
        except webhook.WebhookError:
            if not confirmed:  # a token that is nobody's any more is answered 401 before anything else
                webhook.confirm(route.digest)
            raise
        receipt = receive_contact(
            source=source,
            external_id=payload.external_id,
            name=payload.name,
            message=payload.message,
            skills=payload.skills,
            idempotency_key=key,
            route=route if confirmed else None,
            confirm=None if confirmed else route,
        )
    except SourceGone:
        # The source was deleted while this request was in flight: its token is unknown now.
        return _rejected(
            request, source, webhook.WebhookError(401, "authorization", gettext("Unknown token.")), started
        )
    except webhook.WebhookError as exc:
        return _rejected(request, source, exc, started)
    except IdempotencyConflict:
        response = json_error(
            422, "idempotency_key", gettext("This key was already used with different fields.")
        )
        _log_rejection(source, response, "idempotency_key", started)
        return response

    contact = receipt.contact
    response = json_response(webhook.WebhookReceipt.of(contact), status=200 if receipt.replayed else 201)
    if receipt.replayed:
        response["Idempotent-Replay"] = "true"
    log.info(
        "intake status=%s source=%s lead=%s contact=%s operator=%s reason=%s replay=%s duration_ms=%.1f",
        response.status_code,
        source.pk,
        contact.lead_id,
        contact.pk,
        contact.operator_id or "-",
        contact.unassigned_reason or "-",
        receipt.replayed,
        (time.monotonic() - started) * 1000,
    )
    return response


def _rejected(request: HttpRequest, source, exc: webhook.WebhookError, started: float) -> JsonResponse:
    response = json_error(exc.status, exc.field, exc.message, errors=exc.errors)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="leadflow"'
        # Only failures are counted (shared through the database by every worker and host): a request with
        # a valid token never touches the throttle.
        try:
            record_failure(client_ip(request))
        except TooManyFailures as throttled:
            response = too_many_failures(throttled.wait)
    _log_rejection(source, response, exc.field, started)
    return response


def _log_rejection(source, response: JsonResponse, field: str, started: float) -> None:
    log.info(
        "intake status=%s source=%s field=%s duration_ms=%.1f",
        response.status_code,
        source.pk if source else "-",
        field,
        (time.monotonic() - started) * 1000,
    )


def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers a query, 503 otherwise. No authentication and nothing secret."""
    if request.method not in ("GET", "HEAD"):
        return json_error(405, "method", gettext("Use %(method)s.") % {"method": "GET"}, Allow="GET, HEAD")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return json_response(
            {"status": "unavailable", "database": "unreachable"},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return json_response({"status": "ok", "database": "ok"})
