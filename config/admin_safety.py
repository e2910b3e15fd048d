"""The admin never runs a pattern a visitor typed into its URL.

The changelist turns every query-string parameter into a filter, and Django allows any lookup on the
model's own fields: `/admin/crm/lead/?external_id__regex=(a*)*b` runs a backtracking regex over every
row (10 s on SQLite with one 25-character id). The admin's own filters only ever send equality, range,
date and null lookups, and its search box sends `q`, so pattern lookups in the query string are refused
(400) in the admin's URLs before any model admin sees them. No model admin needs to change for it.
"""

from collections.abc import Callable

from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.http import HttpRequest, HttpResponse

# Lookups that take a user-supplied pattern and cannot use an index: none of the admin's filters sends them.
PATTERN_LOOKUPS = frozenset(
    {
        "regex",
        "iregex",
        "contains",
        "icontains",
        "startswith",
        "istartswith",
        "endswith",
        "iendswith",
        "search",
        "trigram_similar",
        "trigram_word_similar",
        "trigram_strict_word_similar",
    }
)


def is_pattern_lookup(parameter: str) -> bool:
    """`external_id__regex`, `lead__name__icontains`: a lookup part (after the field) is a pattern lookup."""
    return any(part in PATTERN_LOOKUPS for part in parameter.split("__")[1:])


class AdminLookupMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable, view_args: tuple, view_kwargs: dict
    ) -> None:
        # Any admin site, wherever it is mounted: its URLs' application namespace is always "admin".
        if "admin" not in request.resolver_match.app_names:
            return None
        refused = [key for key in request.GET if is_pattern_lookup(key)]
        if refused:
            # A SuspiciousOperation: answered 400 by config.errors and logged to django.security.
            raise DisallowedModelAdminLookup(f"Filtering by {', '.join(refused)} is not allowed")
        return None
