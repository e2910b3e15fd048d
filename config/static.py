"""Static files: only what the pages use is collected and served.

django-ninja ships Swagger UI with its source maps (3 MB that no page loads, only a browser's developer
tools) and ReDoc, which Leadflow does not use. Served by whitenoise without a login, they were large
answers anyone could ask for; they are left out of collectstatic, and the hashed-name storage no longer
rewrites the bundles' sourceMappingURL comments (it would look for the maps and fail).
"""

from django.contrib.staticfiles.finders import AppDirectoriesFinder
from whitenoise.storage import CompressedManifestStaticFilesStorage

NOT_SHIPPED = ["*.map", "ninja/redoc.standalone.js"]


class ShippedAppFiles(AppDirectoriesFinder):
    """The apps' static files (STATICFILES_FINDERS), without the ones no page uses: collectstatic lists
    files through the finders, so what they leave out is never collected nor served."""

    def list(self, ignore_patterns):
        return super().list([*(ignore_patterns or []), *NOT_SHIPPED])


class StaticStorage(CompressedManifestStaticFilesStorage):
    """whitenoise's compressed, hashed-name storage, without Django's source-map patterns."""

    patterns = tuple(
        (extension, tuple(p for p in found if "sourceMappingURL" not in str(p)))
        for extension, found in CompressedManifestStaticFilesStorage.patterns
    )
