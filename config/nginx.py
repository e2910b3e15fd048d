"""nginx's own JSON answers under /api/ (deploy/nginx-leadflow-common.conf), in every language the app
speaks: each defined once here, in the app's error shape and words (config.errors), and written into that
file by `python manage.py nginx_error_answers`; tests/test_i18n.py fails when the file no longer says
what this module and the catalogue say.

nginx picks the answer's language from the request's Accept-Language, its first language (a client asking
for Russian first gets Russian); anything else gets English. LANGUAGE_CODE and the language cookie are the
app's: nginx reads neither.
"""

import json
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext, ngettext

from config.errors import RETRY_AFTER_SECONDS
from distribution import webhook

CONF = Path(settings.BASE_DIR) / "deploy" / "nginx-leadflow-common.conf"
BEGIN = (
    "# --- nginx's own answers under /api/: written by `manage.py nginx_error_answers` (config/nginx.py) ---"
)
END = "# --- end of nginx's own answers ---"


@dataclass(frozen=True)
class ProxyAnswer:
    location: str  # the named location error_page sends the refusal to
    status: int
    field: str
    message: Callable[[], str]  # in the active language
    about: str  # a comment for the file: when nginx answers so
    retry_after: int | None = None


def _unavailable() -> str:
    return ngettext(
        "The service did not answer; try again in %(seconds)d second with the same Idempotency-Key.",
        "The service did not answer; try again in %(seconds)d seconds with the same Idempotency-Key.",
        RETRY_AFTER_SECONDS,
    ) % {"seconds": RETRY_AFTER_SECONDS}


ANSWERS = (
    ProxyAnswer(
        "@api_too_large",
        413,
        "body",
        webhook.too_large,
        about="A body over client_max_body_size, in the webhook's own words for it.",
    ),
    ProxyAnswer(
        "@api_too_many",
        429,
        "request",
        lambda: gettext("Too many requests from this address; try again in a second."),
        about="An address over its rate or its requests in progress (limit_req, limit_conn).",
        retry_after=1,
    ),
    ProxyAnswer(
        "@api_unavailable",
        503,
        "server",
        _unavailable,
        about="No app host answered (502), none was there (503) or it took longer than proxy_read_timeout "
        "(504): the request may or may not have been processed, so a sender retries it with the same "
        "Idempotency-Key.",
        retry_after=RETRY_AFTER_SECONDS,
    ),
)


def body(answer: ProxyAnswer, language: str) -> str:
    """The answer's JSON in that language, as the app writes its errors (UTF-8, one line)."""
    with translation.override(language):
        return json.dumps({"errors": {answer.field: [answer.message()]}}, ensure_ascii=False) + "\n"


def _quoted(text: str) -> str:
    """Text as an nginx single-quoted string (nginx reads \\\\, \\' and \\n in it)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def locations() -> str:
    """The named locations, each answering in the first language of Accept-Language it has, else English
    (the catalogue's source language)."""
    blocks = []
    for answer in ANSWERS:
        lines = [*(f"# {line}" for line in textwrap.wrap(answer.about, 106))]
        lines += [f"location {answer.location} {{", "    default_type application/json;"]
        if answer.retry_after:
            lines.append(f"    add_header Retry-After {answer.retry_after} always;")
        for language, _name in settings.LANGUAGES:
            if language != "en":
                lines += [
                    f'    if ($http_accept_language ~* "^\\s*{re.escape(language)}\\b") {{',
                    f"        return {answer.status} {_quoted(body(answer, language))};",
                    "    }",
                ]
        lines += [f"    return {answer.status} {_quoted(body(answer, 'en'))};", "}"]
        blocks.append("\n".join(lines))
    return "\n\n".join([BEGIN, *blocks, END])


def written(text: str) -> str:
    """The file's text with its generated part (between BEGIN and END) as locations() says it now."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + locations() + text[end:]
