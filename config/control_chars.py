"""Control characters never reach a view through the query string.

A NUL in a search (`/leads/?q=%00`) makes PostgreSQL refuse the query (a 500), and no filter or search
needs control characters, so they are removed from every GET parameter, names and values, before any
view, form or admin changelist reads them. Bodies are left alone: the webhook refuses control characters
in its fields itself, and Django's form fields refuse NUL.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, QueryDict

from crm.validators import control_characters

CONTROL_CHARACTERS = control_characters()


def strip_control_characters(text: str) -> str:
    return CONTROL_CHARACTERS.sub("", text)


class StripControlCharactersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The raw query string is percent-encoded, so look at the decoded parameters; most requests have none.
        if request.META.get("QUERY_STRING") and any(
            CONTROL_CHARACTERS.search(key) or any(CONTROL_CHARACTERS.search(v) for v in values)
            for key, values in request.GET.lists()
        ):
            request.GET = self._cleaned(request.GET)
        return self.get_response(request)

    @staticmethod
    def _cleaned(query: QueryDict) -> QueryDict:
        cleaned = QueryDict(mutable=True)
        for key, values in query.lists():
            cleaned.setlist(strip_control_characters(key), [strip_control_characters(v) for v in values])
        cleaned._mutable = False  # like the QueryDict Django builds: views must not change it
        return cleaned
