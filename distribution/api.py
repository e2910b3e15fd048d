"""The channels' webhook and the health check. Views parse, make one service call, and answer in JSON."""

import logging
import time

from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from distribution import webhook
from distribution.services import IdempotencyConflict, receive_contact

log = logging.getLogger("leadflow.intake")

RETRY_AFTER_SECONDS = 5
# Raised when the database cannot be reached or drops the connection; the client should retry.
DATABASE_DOWN = (OperationalError, InterfaceError)


def error(status: int, field: str, message: str, **headers: str) -> JsonResponse:
    return JsonResponse({"errors": {field: [message]}}, status=status, headers=headers)


def database_unavailable() -> JsonResponse:
    return error(
        503,
        "database",
        f"Temporarily unavailable; nothing was stored. Retry in {RETRY_AFTER_SECONDS} seconds.",
        **{"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


@csrf_exempt
def contacts_webhook(request: HttpRequest) -> JsonResponse:
    """POST /api/contacts/: store a contact from a channel and say which operator took it."""
    started = time.monotonic()
    source = None
    try:
        if request.method != "POST":
            return error(405, "method", "Use POST.", Allow="POST")
        webhook.declared_size_ok(request)
        source = webhook.authenticate(request)
        key = webhook.idempotency_key(request)
        payload = webhook.parse(request)
        if payload.source_id is not None and payload.source_id != source.pk:
            raise webhook.WebhookError(403, "source_id", "The token belongs to another source.")
        receipt = receive_contact(
            source=source,
            external_id=payload.external_id,
            name=payload.name,
            message=payload.message,
            idempotency_key=key,
        )
    except webhook.WebhookError as exc:
        response = error(exc.status, exc.field, exc.message)
        if exc.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="leadflow"'
        _log_rejection(request, source, response, exc.field, started)
        return response
    except IdempotencyConflict:
        response = error(422, "idempotency_key", "This key was already used with different fields.")
        _log_rejection(request, source, response, "idempotency_key", started)
        return response
    except DATABASE_DOWN:
        log.warning("intake status=503 source=%s database unavailable", source.pk if source else "-", exc_info=True)
        return database_unavailable()

    contact = receipt.contact
    response = JsonResponse(
        {
            "contact_id": contact.pk,
            "lead_id": contact.lead_id,
            "source_id": contact.source_id,
            "assigned_operator": contact.operator_id,
            "unassigned_reason": contact.unassigned_reason or None,
        },
        status=200 if receipt.replayed else 201,
    )
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


def _log_rejection(request: HttpRequest, source, response: JsonResponse, field: str, started: float) -> None:
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
        return error(405, "method", "Use GET.", Allow="GET, HEAD")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse(
            {"status": "unavailable", "database": "unreachable"},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return JsonResponse({"status": "ok", "database": "ok"})
