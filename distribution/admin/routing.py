"""What the admin pages that change capacity share: saying how many waiting contacts a save routed, and
an operator's load in the dashboard's words."""

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.utils.translation import ngettext

from crm import eligibility
from crm.templatetags.leadflow import load_state_label
from distribution import capacity


class ReportsRouting(admin.ModelAdmin):
    """Admin pages whose saves may add capacity: once a save has committed and the waiting contacts it let
    through were routed, the page says how many (capacity.Routed)."""

    def routed(self, request: HttpRequest, routed: capacity.Routed) -> None:
        """Keep a save's Routed until its transaction has committed (the admin wraps saves in one)."""
        request.__dict__.setdefault("leadflow_routed", []).append(routed)

    def _say_routed(self, request: HttpRequest) -> None:
        assigned = sum(routed.assigned for routed in request.__dict__.pop("leadflow_routed", []))
        if assigned:
            done = ngettext(
                "%(count)d waiting contact was assigned.",
                "%(count)d waiting contacts were assigned.",
                assigned,
            )
            self.message_user(request, done % {"count": assigned}, messages.SUCCESS)

    def changeform_view(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().changeform_view(request, *args, **kwargs)  # committed by now
        self._say_routed(request)
        return response

    def changelist_view(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().changelist_view(request, *args, **kwargs)  # list edits and actions, committed
        self._say_routed(request)
        return response


def load_text(load: int, limit: int) -> str:
    """ "3 / 20", "20 / 20 · full", "21 / 20 · over the limit": as the dashboard marks it."""
    state = load_state_label(eligibility.load_state(load, limit))
    return f"{load} / {limit} · {state}" if state else f"{load} / {limit}"
