import os

from django.core.wsgi import get_wsgi_application

# Not setdefault: the benchmark's own environment names the app's settings.
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.floor.settings"

application = get_wsgi_application()
