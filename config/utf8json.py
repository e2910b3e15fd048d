"""JSON answers as UTF-8 text: a Russian message as its letters, not as \\u escapes. JSON is UTF-8 by
definition (RFC 8259), so clients read either the same, and a log line or a terminal shows the message as it
reads, in half the bytes. Every JSON answer of ours is written this way: config.errors.json_error, the
webhook's receipt and the health check (json_response), and the API's operations (integrations.api's
renderer, which uses Utf8Encoding too)."""

import json
import re

from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse

UTF8 = {"ensure_ascii": False}
LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


class Utf8Encoding(json.JSONEncoder):
    """With ensure_ascii=False, every character as itself, except a lone surrogate: a JSON body may carry one
    as "\\ud800" (in a field name an error names, say), and it has no UTF-8 form, so it stays escaped. JSON's
    own syntax is ASCII, so such a character can only be inside a string, where its escape means the same."""

    def encode(self, o) -> str:
        return LONE_SURROGATE.sub(lambda found: f"\\u{ord(found[0]):04x}", super().encode(o))


class Utf8JsonEncoder(Utf8Encoding, DjangoJSONEncoder):
    pass


def json_response(data: dict, **kwargs) -> JsonResponse:
    """JsonResponse in UTF-8 (Content-Type: application/json, which is UTF-8)."""
    return JsonResponse(data, encoder=Utf8JsonEncoder, json_dumps_params=UTF8, **kwargs)
