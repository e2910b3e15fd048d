"""Static files: only what the pages use is collected and served.

django-ninja ships Swagger UI with its source maps (3 MB that no page loads, only a browser's developer
tools) and ReDoc, which Leadflow does not use. Served by whitenoise without a login, they were large
answers anyone could ask for; they are left out of collectstatic, and the hashed-name storage no longer
rewrites the bundles' sourceMappingURL comments (it would look for the maps and fail).
"""

from django.contrib.staticfiles.apps import StaticFilesConfig as DjangoStaticFilesConfig
from whitenoise.storage import CompressedManifestStaticFilesStorage

NOT_SHIPPED = ["*.map", "ninja/redoc.standalone.js"]


class StaticFilesConfig(DjangoStaticFilesConfig):
    ignore_patterns = [*DjangoStaticFilesConfig.ignore_patterns, *NOT_SHIPPED]


class StaticStorage(CompressedManifestStaticFilesStorage):
    """whitenoise's compressed, hashed-name storage, without Django's source-map patterns."""

    patterns = tuple(
        (extension, tuple(p for p in found if "sourceMappingURL" not in str(p)))
        for extension, found in CompressedManifestStaticFilesStorage.patterns
    )
