"""Settings of the floor: the cheapest Django project that does what an intake must, and nothing more.

One app, one model, one view (parse the webhook's JSON body, insert one row), CommonMiddleware only, no
sessions, no auth, no per-request connection health check. bench/bench_intake.py serves it with the same
gunicorn.conf.py on the same database as the app, so intake / floor is what the app's routing costs.
Never deployed: it exists only while a benchmark runs.
"""

import environ

env = environ.Env()

SECRET_KEY = "bench-floor-signs-nothing"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["bench.floor"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "bench.floor.urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {"default": env.db("DATABASE_URL")}
# The app's connection handling (keep in step with config/settings.py) without its per-request health
# check: what any webhook on this database pays.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
