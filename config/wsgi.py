"""The WSGI application: Django's handler, with the channels' webhook served through a shorter stack.

Every request to the webhook's path goes to a second Django handler built with WEBHOOK_MIDDLEWARE (a
subset of MIDDLEWARE, in the same order), the rest to the usual one. The webhook authenticates by token
and keeps no session, user, flash message, CSRF cookie or change history, so the middleware that provide
those would only cost every contact of a busy channel time (docs/performance.md). Same URLconf, views,
settings and error handling; only the stack around the view is shorter.
"""

import os

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class WebhookHandler(WSGIHandler):
    """Django's WSGI handler with settings.WEBHOOK_MIDDLEWARE as its middleware."""

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler.load_middleware reads settings.MIDDLEWARE and nothing else: it gets the shorter list
        # while this one handler is built (once, when the worker starts), then the setting is restored.
        full_stack = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.WEBHOOK_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full_stack


site = get_wsgi_application()  # sets Django up: the app's modules can be imported from here on
webhook = WebhookHandler()

from distribution.webhook import PATHS as WEBHOOK_PATHS  # noqa: E402  (the contract's one definition)


def application(environ: dict, start_response):
    handler = webhook if environ.get("PATH_INFO") in WEBHOOK_PATHS else site
    return handler(environ, start_response)
