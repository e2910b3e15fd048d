"""/api/v1/subscriptions: where outbound events go (events.services). Every operation needs a write key,
reading too: a subscription says where the contacts' data is sent, which is for who may change it."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext, gettext_noop
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import ConfigDict, StrictBool, StrictInt, StrictStr, WithJsonSchema

from crm.models import Source
from events import services
from events.choices import EventType
from events.models import Subscription
from integrations.api.common import NOT_FOUND, Body, LimitOffset, StrictId, errors, get_or_404
from integrations.auth import write_key

URL_MAX = Subscription._meta.get_field("url").max_length
GRACE_MAX = 7 * 24 * 3600

# Checked by events.services (an unknown type is a 400 naming `events`), listed in the schema as an enum.
EventTypes = Annotated[
    list[StrictStr],
    WithJsonSchema(
        {"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(EventType.values)}}
    ),
]
Url = Annotated[StrictStr, Field(min_length=1, max_length=URL_MAX)]


class SubscriptionIn(Body):
    url: Url = Field(
        description=gettext_noop(
            "Where events are POSTed: http or https, a public address (private and local ones are refused "
            "unless OUTBOUND_ALLOW_PRIVATE is on)."
        )
    )
    events: EventTypes = Field(description=gettext_noop("The event types sent there, at least one."))
    source_id: StrictId | None = Field(
        None, description=gettext_noop("Only this source's contacts; null: every source (and operators).")
    )
    is_active: StrictBool = True


class SubscriptionPatch(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "description": gettext_noop(
                "Any subset of the fields; `source_id` may be null (every source), the others may not."
            )
        },
    )

    url: Url = Field(None)
    events: EventTypes = Field(None)
    source_id: StrictId | None = Field(None)
    is_active: StrictBool = Field(None)


class RotateIn(Body):
    grace_seconds: StrictInt = Field(
        0,
        ge=0,
        le=GRACE_MAX,
        description=gettext_noop(
            "How long the current secret keeps signing next to the new one (0: it stops at once)."
        ),
    )


class SubscriptionOut(Schema):
    id: int
    url: str
    events: list[str]
    source_id: int | None = Field(description=gettext_noop("null: every source."))
    is_active: bool
    secret_prefix: str = Field(
        description=gettext_noop(
            "The signing secret's first characters after whsec_ (it is never shown again)."
        )
    )
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(
        description=gettext_noop(
            "The signing secret, shown only this once: check each delivery's Leadflow-Signature with it."
        )
    )


class SubscriptionRotated(SubscriptionCreated):
    previous_secret_until: datetime | None = Field(
        description=gettext_noop("Until when the secret before keeps signing too (null: it stopped).")
    )


class TestQueued(Schema):
    delivery_id: int
    event_id: str = Field(description=gettext_noop("The test event's id (its Leadflow-Event-Id)."))


router = Router(tags=["subscriptions"], auth=write_key)


def source_of(source_id: int | None) -> Source | None:
    if source_id is None:
        return None
    source = Source.objects.filter(pk=source_id).first()
    if source is None:
        raise DjangoValidationError({"source_id": NOT_FOUND["source"] % {"id": source_id}})
    return source


@contextmanager
def answered(subscription_id: int) -> Iterator[None]:
    """The services' errors named as the body names its fields; a subscription deleted meanwhile: 404."""
    try:
        yield
    except Subscription.DoesNotExist:
        raise Http404(NOT_FOUND["subscription"] % {"id": subscription_id}) from None
    except DjangoValidationError as refused:
        if not hasattr(refused, "error_dict"):
            raise
        renamed = {("source_id" if f == "source" else f): e for f, e in refused.error_dict.items()}
        raise DjangoValidationError(renamed) from None


@router.get(
    "", response={200: list[SubscriptionOut], **errors(400, 403)}, summary=gettext_noop("List subscriptions")
)
@paginate(LimitOffset)
def list_subscriptions(request: HttpRequest) -> QuerySet[Subscription]:
    return Subscription.objects.order_by("id")


@router.post(
    "",
    response={201: SubscriptionCreated, **errors(400, 403)},
    summary=gettext_noop("Create a subscription"),
    description=gettext_noop(
        "Answers with the signing `secret`, shown only this once; the subscription's events are then "
        "POSTed to `url`, signed with it (docs/api.md, Outbound events)."
    ),
)
def create_subscription(request: HttpRequest, payload: SubscriptionIn) -> Status[dict]:
    with answered(0):
        subscription, secret = services.create_subscription(
            url=payload.url,
            events=payload.events,
            source=source_of(payload.source_id),
            is_active=payload.is_active,
        )
    return Status(201, {**SubscriptionOut.from_orm(subscription).dict(), "secret": secret})


@router.get(
    "/{int:subscription_id}",
    response={200: SubscriptionOut, **errors(403, 404)},
    summary=gettext_noop("Get a subscription"),
)
def get_subscription(request: HttpRequest, subscription_id: int) -> Subscription:
    return get_or_404(Subscription.objects.all(), subscription_id, "subscription")


@router.patch(
    "/{int:subscription_id}",
    response={200: SubscriptionOut, **errors(400, 403, 404)},
    summary=gettext_noop("Change a subscription"),
    description=gettext_noop(
        "Any subset of `url`, `events`, `source_id` (null: every source) and `is_active`."
    ),
)
def update_subscription(
    request: HttpRequest, subscription_id: int, payload: SubscriptionPatch
) -> Subscription:
    subscription = get_or_404(Subscription.objects.all(), subscription_id, "subscription")
    sent = payload.dict(exclude_unset=True)
    for name in ("url", "events", "is_active"):
        if name in sent and sent[name] is None:
            raise DjangoValidationError({name: gettext("This field cannot be null.")})
    if "source_id" in sent:
        sent["source"] = source_of(sent.pop("source_id"))
    with answered(subscription_id):
        return services.update_subscription(subscription=subscription, **sent)


@router.delete(
    "/{int:subscription_id}",
    response={204: None, **errors(400, 403, 404)},
    summary=gettext_noop("Delete a subscription"),
    description=gettext_noop("Its deliveries still pending are never sent."),
)
def delete_subscription(request: HttpRequest, subscription_id: int) -> Status[None]:
    subscription = get_or_404(Subscription.objects.all(), subscription_id, "subscription")
    services.delete_subscription(subscription=subscription)
    return Status(204, None)


@router.post(
    "/{int:subscription_id}/test",
    response={202: TestQueued, **errors(400, 403, 404)},
    summary=gettext_noop("Send a test event"),
    description=gettext_noop(
        "Queues a `leadflow.test` event to this subscription alone, delivered (signed, retried) like any other."
    ),
)
def send_test_event(request: HttpRequest, subscription_id: int) -> Status[dict]:
    subscription = get_or_404(Subscription.objects.all(), subscription_id, "subscription")
    delivery = services.send_test_event(subscription=subscription)
    return Status(202, {"delivery_id": delivery.pk, "event_id": str(delivery.event.public_id)})


@router.post(
    "/{int:subscription_id}/rotate-secret",
    response={200: SubscriptionRotated, **errors(400, 403, 404)},
    summary=gettext_noop("Make a new signing secret"),
    description=gettext_noop(
        "Answers with the new `secret`, shown only this once. With `grace_seconds`, deliveries carry a "
        "second signature with the secret before for that long, so the receiver can switch over."
    ),
)
def rotate_secret(request: HttpRequest, subscription_id: int, payload: RotateIn | None = None) -> dict:
    subscription = get_or_404(Subscription.objects.all(), subscription_id, "subscription")
    grace = timedelta(seconds=payload.grace_seconds if payload else 0)
    with answered(subscription_id):
        secret = services.rotate_secret(subscription=subscription, grace=grace)
    rotated = get_or_404(Subscription.objects.all(), subscription_id, "subscription")
    return {
        **SubscriptionOut.from_orm(rotated).dict(),
        "secret": secret,
        "previous_secret_until": rotated.previous_until,
    }
