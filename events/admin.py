"""Subscriptions and deliveries in the admin: a subscription made through events.services (its signing
secret shown once, as source tokens and API keys are: crm.secret_pages), rotated with a grace period, sent a
test event; its recent deliveries on its page; deliveries read-only, with "send again"."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from crm.admin import AdminWords, ChangedAsShown, WordedAdmin
from crm.secret_pages import RotatesSecrets, SecretWords
from crm.templatetags.leadflow import when
from events import services
from events.choices import DeliveryStatus, EventType
from events.models import Delivery, Subscription

RECENT_DELIVERIES = 20


class SubscriptionForm(ChangedAsShown):
    """The subscription as the page showed it: an integration may switch it off or change it while the page
    is open, and a save writes only what the supervisor changed (services.update_subscription)."""

    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        help_text=_("Where events are POSTed (http or https)."),
    )
    events = forms.MultipleChoiceField(
        label=_("event types"),
        choices=[(code, format_lazy("{}: {}", code, label)) for code, label in EventType.choices],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The event types sent there."),
    )

    class Meta:
        model = Subscription
        fields = ["url", "events", "source", "is_active"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if "url" in cleaned and "events" in cleaned:
            try:  # the services' own rule (http(s), public addresses, known types), said on the form
                cleaned["events"] = services.validate(
                    url=cleaned["url"], events=cleaned["events"], source=cleaned.get("source")
                )
            except ValidationError as refused:
                self.add_error(None, refused)
        return cleaned


@admin.register(Subscription)
class SubscriptionAdmin(RotatesSecrets, WordedAdmin):
    form = SubscriptionForm
    list_display = ["url", "source_label", "event_types", "is_active", "secret_prefix", "failed"]
    list_filter = ["is_active", "source"]
    search_fields = ["url"]
    readonly_fields = ["secret_prefix", "created", "updated"]
    actions = ["send_test_events"]
    list_select_related = ["source"]
    change_form_template = "admin/events/subscription/change_form.html"
    words = AdminWords(
        count=ngettext_lazy("%(count)d subscription", "%(count)d subscriptions", "count"),
        select=_("Select subscription"),
        select_to_change=_("Select subscription to change"),
        select_to_view=_("Select subscription to view"),
        add=_("Add subscription"),
        change=_("Change subscription"),
        view=_("View subscription"),
    )
    secret_words = SecretWords(
        kind=_("signing secret"),
        new=_("A new signing secret"),
        new_for=_("A new signing secret for %(name)s"),
        made_once=_(
            "A new signing secret for “%(name)s” is made and shown once. The receiver must then check the "
            "signatures with the new one."
        ),
        yes=_("Yes, make a new signing secret"),
        no=_("No, keep the current signing secret"),
        new_of=_("The new signing secret of %(name)s"),
        copy_now=_("Copy the signing secret now: it is shown only this once."),
        shown_already=_(
            "This signing secret was shown once and cannot be shown again. If it was not copied, make a new one."
        ),
    )
    rotate_url_part = "rotate-secret"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscription]:
        failed = Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED))
        return super().get_queryset(request).annotate(failed_count=failed)

    def get_fields(self, request: HttpRequest, obj: Subscription | None = None) -> list[str]:
        fields = ["url", "events", "source", "is_active"]
        return fields if obj is None else [*fields, "secret_prefix", "created", "updated"]

    @admin.display(description=_("source"), ordering="source__name")
    def source_label(self, subscription: Subscription) -> str:
        return str(subscription.source) if subscription.source_id else gettext("all sources")

    @admin.display(description=_("event types"))
    def event_types(self, subscription: Subscription) -> str:
        return ", ".join(subscription.events)

    @admin.display(description=_("failed deliveries"), ordering="failed_count")
    def failed(self, subscription: Subscription) -> int:
        return subscription.failed_count

    @admin.display(description=_("created"))
    def created(self, subscription: Subscription) -> str:
        return when(subscription.created_at)

    @admin.display(description=_("updated"))
    def updated(self, subscription: Subscription) -> str:
        return when(subscription.updated_at)

    def get_urls(self) -> list:
        test = self.admin_site.admin_view(self.test_event_view)
        return [path("<path:object_id>/test-event/", test, name=self._name("test")), *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        recent = (
            Delivery.objects.filter(subscription_id=object_id).select_related("event")[:RECENT_DELIVERIES]
            if object_id.isdigit()
            else []
        )
        extra = {
            "rotate_url": reverse(f"admin:{self._name('rotate')}", args=[object_id]),
            "test_url": reverse(f"admin:{self._name('test')}", args=[object_id]),
            "recent_deliveries": list(recent),
            "deliveries_url": reverse("admin:events_delivery_changelist")
            + f"?subscription__id__exact={object_id}",
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra)

    def save_model(self, request: HttpRequest, obj: Subscription, form, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in ("url", "events", "source", "is_active")}
        if change:
            changed = {name: value for name, value in fields.items() if name in form.changed_data}
            services.update_subscription(subscription=obj, **changed)
            return
        created, secret = services.create_subscription(**fields)
        for field in Subscription._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj.secret = secret  # shown once by response_add

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        pass  # no relations of its own: the service saved everything

    def response_add(self, request: HttpRequest, obj: Subscription, post_url_continue=None) -> HttpResponse:
        return self.show_new_secret(
            request, obj, obj.secret, replaced=gettext("none: the subscription is new")
        )

    def delete_model(self, request: HttpRequest, obj: Subscription) -> None:
        services.delete_subscription(subscription=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        for subscription in queryset:
            services.delete_subscription(subscription=subscription)

    def rotate_secret(self, request: HttpRequest, obj: Subscription, *, grace: timedelta) -> str:
        return services.rotate_secret(subscription=obj, grace=grace)

    def test_event_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: a test event to this subscription alone, then back to its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        subscription = self.get_object(request, object_id)
        if subscription is None:
            raise Http404(gettext("Nothing is here."))
        if not self.has_change_permission(request, subscription):
            raise PermissionDenied
        services.send_test_event(subscription=subscription)
        self.message_user(request, gettext("A test event is on its way."), messages.SUCCESS)
        return HttpResponseRedirect(reverse(f"admin:{self._name('change')}", args=[subscription.pk]))

    @admin.action(description=_("Send a test event to the selected subscriptions"), permissions=["change"])
    def send_test_events(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> None:
        for subscription in queryset:
            services.send_test_event(subscription=subscription)
        n = len(queryset)
        done = ngettext("%(count)d test event is on its way.", "%(count)d test events are on their way.", n)
        self.message_user(request, done % {"count": n}, messages.SUCCESS)


@admin.register(Delivery)
class DeliveryAdmin(WordedAdmin):
    list_display = [
        "event_type",
        "subscription",
        "status",
        "attempts",
        "last_status",
        "last_error",
        "last_duration_ms",
        "next_attempt",
        "created",
    ]
    list_filter = ["status", "subscription"]
    search_fields = ["=event__public_id"]
    readonly_fields = ["event_id_text", "event_type", "created", "next_attempt", "delivered"]
    fields = [
        "subscription",
        "event_type",
        "event_id_text",
        "status",
        "attempts",
        "last_status",
        "last_error",
        "last_duration_ms",
        "next_attempt",
        "delivered",
        "created",
    ]
    actions = ["send_again"]
    list_select_related = ["event", "subscription"]
    show_full_result_count = False  # the table grows by every event: no second count per page
    words = AdminWords(
        count=ngettext_lazy("%(count)d delivery", "%(count)d deliveries", "count"),
        select=_("Select delivery"),
        select_to_change=_("Select delivery to view"),
        select_to_view=_("Select delivery to view"),
        add=_("Add delivery"),
        change=_("View delivery"),
        view=_("View delivery"),
    )

    # Read-only: only the worker and "send again" (events.services) change deliveries.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Delivery | None = None) -> bool:
        return False

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("events.change_delivery")

    @admin.display(description=_("event type"), ordering="event__type")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.display(description=_("event id"))
    def event_id_text(self, delivery: Delivery) -> str:
        return str(delivery.event.public_id)

    @admin.display(description=_("next attempt"), ordering="next_attempt_at")
    def next_attempt(self, delivery: Delivery) -> str:
        return when(delivery.next_attempt_at) if delivery.status == DeliveryStatus.PENDING else "—"

    @admin.display(description=_("delivered"), ordering="delivered_at")
    def delivered(self, delivery: Delivery) -> str:
        return when(delivery.delivered_at) or "—"

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, delivery: Delivery) -> str:
        return when(delivery.created_at)

    @admin.action(description=_("Send the selected deliveries again"), permissions=["send"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        n = services.send_again(deliveries=queryset)
        done = ngettext(
            "%(count)d delivery will be sent again.", "%(count)d deliveries will be sent again.", n
        )
        self.message_user(request, done % {"count": n}, messages.SUCCESS)
