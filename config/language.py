"""The webhook's language middleware: Django's LocaleMiddleware for a site without language prefixes."""

from django.conf import settings
from django.conf.urls.i18n import is_language_prefix_patterns_used
from django.core.exceptions import ImproperlyConfigured
from django.utils import translation
from django.utils.cache import patch_vary_headers


class RequestLanguageMiddleware:
    """Speak the request's language (the language cookie, else Accept-Language, else LANGUAGE_CODE) and say
    so in Content-Language and Vary, as LocaleMiddleware does.

    LocaleMiddleware also looks for a language prefix in the path (twice per request) and redirects
    unprefixed pages that 404; this site has no i18n_patterns, so for it they decide nothing, and on the
    webhook (WEBHOOK_MIDDLEWARE), where every request pays for them, this does without.
    """

    def __init__(self, get_response) -> None:
        if is_language_prefix_patterns_used(settings.ROOT_URLCONF)[0]:
            raise ImproperlyConfigured(
                "RequestLanguageMiddleware ignores i18n_patterns: use LocaleMiddleware."
            )
        self.get_response = get_response

    def __call__(self, request):
        request.LANGUAGE_CODE = language = translation.get_language_from_request(request)
        translation.activate(language)
        response = self.get_response(request)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", language)
        return response
