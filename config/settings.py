"""Leadflow settings: the only settings module. Every value comes from the environment (or an optional .env)."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment or in .env (DEBUG is off, so no development key)."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-used-with-debug-off"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS hardening is on whenever DEBUG is off; HTTPS=false turns it off for a plain-HTTP run (e.g. local).
HTTPS = env.bool("HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
# Load balancers probe over plain HTTP; a redirect would look like a failure to them.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
# Behind a TLS-terminating proxy (the usual deployment) requests arrive over HTTP with X-Forwarded-Proto.
if env.bool("TRUST_X_FORWARDED_PROTO", default=HTTPS):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Unassigned contacts older than this are no longer routed automatically: they wait for a person.
UNASSIGNED_MAX_AGE_HOURS = env.int("UNASSIGNED_MAX_AGE_HOURS", default=72)
# How much a supervisor's save may drain inline after adding capacity; the periodic drain does the rest.
DRAIN_INLINE_LIMIT = env.int("DRAIN_INLINE_LIMIT", default=200)

# How often My work's page asks for new contacts (each open page: one small request per period).
# Outbound events (events/): the key each subscription's signing secret is derived from (default: SECRET_KEY;
# changing it changes every subscription's secret), whether receivers on private or local addresses are
# allowed (tests, a private network), and each delivery's timeout.
EVENTS_SIGNING_KEY = env.str("EVENTS_SIGNING_KEY", default="")
OUTBOUND_ALLOW_PRIVATE = env.bool("OUTBOUND_ALLOW_PRIVATE", default=False)
OUTBOUND_TIMEOUT_SECONDS = env.float("OUTBOUND_TIMEOUT_SECONDS", default=5.0)
MY_WORK_POLL_SECONDS = env.int("MY_WORK_POLL_SECONDS", default=10)
if MY_WORK_POLL_SECONDS < 1:
    raise ImproperlyConfigured("MY_WORK_POLL_SECONDS must be a whole number of seconds, at least 1.")

# Rolling window over which an operator's load is counted.
LOAD_WINDOW_HOURS = env.int("LOAD_WINDOW_HOURS", default=24)
if LOAD_WINDOW_HOURS < 1:
    raise ImproperlyConfigured("LOAD_WINDOW_HOURS must be a whole number of hours, at least 1.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Registers config/checks.py (settings that break behind a pooler in transaction mode).
    "config.apps.ConfigAppConfig",
    "simple_history",
    # django-ninja: listed so that Swagger UI is served from its own static files, never from a CDN.
    "ninja",
    "crm",
    "distribution",
    # Login lockout (django-axes, database handler: every worker and host sees the same failures), under a
    # name people read (config.apps.LockoutConfig; its admin: config/admin.py).
    "config.apps.LockoutConfig",
    # Failed webhook/API authentication per client address (throttle.services).
    "throttle",
    # Outbound events: subscriptions, the outbox, deliveries (the worker sends them).
    "events",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # No control characters in query parameters (a NUL breaks PostgreSQL queries); no pattern lookups
    # (`?external_id__regex=`) in the admin's query strings.
    "config.control_chars.StripControlCharactersMiddleware",
    "config.admin_safety.AdminLookupMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions (it reads the language chosen with the switcher), before common (i18n URL handling).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Records who made each change to operators, sources and weights (django-simple-history).
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.errors.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: turns a lockout into the lockout page (templates/axes_lockout.html).
    "axes.middleware.AxesMiddleware",
]

# The channels' webhook (POST /api/contacts/) runs through these only (config/wsgi.py): it answers in JSON
# to a token, so it needs the HTTPS and header rules, the language of its error messages, and the 503 of
# an outage, but no session, user, CSRF, messages, change history, static files or admin rules.
WEBHOOK_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # LocaleMiddleware without its language-prefix handling, which this site does not use.
    "config.language.RequestLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.errors.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.context_processors.queue",
                "crm.context_processors.my_operator",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several gunicorn workers write to one file: WAL lets readers go on during a write, and IMMEDIATE
    # transactions take the write lock at BEGIN, so a second writer waits (up to `timeout` seconds)
    # instead of failing with "database is locked" when it later tries to upgrade a read lock.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
        # synchronous=FULL: every commit is synced to disk before the 201 goes out; with NORMAL a power
        # cut or OS crash could lose contacts the sender was told were stored (docs/security.md).
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
    }
    # The test database is a file too: the in-memory one uses shared-cache table locks, which ignore the
    # busy timeout and would make the concurrency tests fail for a reason production never meets.
    # Named after the database file, so runs against different files never share a test database.
    database_file = Path(DATABASES["default"]["NAME"])
    DATABASES["default"]["TEST"] = {"NAME": str(database_file.with_name(f"test-{database_file.name}"))}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # What sits between the app and PostgreSQL: none, or a pooler in session or transaction mode
    # (PgBouncer, deploy/pgbouncer.ini). In transaction mode nothing may outlive a transaction on the
    # server, so QuerySet.iterator() must not open server-side cursors; config/checks.py refuses that
    # and the other combinations known to break (docs/scale-out.md).
    DATABASE_POOLER = env.str("DATABASE_POOLER", default="none")
    if DATABASE_POOLER not in ("none", "session", "transaction"):
        raise ImproperlyConfigured("DATABASE_POOLER must be none, session or transaction.")
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
        "DISABLE_SERVER_SIDE_CURSORS", default=False
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# English and Russian (locale/ru); the switcher in the page header remembers a user's choice, otherwise the
# browser's Accept-Language decides, then LANGUAGE_CODE.
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date format everywhere, admin included (config/formats).
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Only what the pages use is collected: no source maps, no ReDoc (config/static.py).
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "config.static.ShippedAppFiles",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "config.static.StaticStorage"},
}

# One line per event to stderr (gunicorn and systemd collect it); errors carry their traceback.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    # Client errors are answered and logged by the views themselves; keep django.request for real failures.
    # axes.apps says "AXES: BEGIN version ..." at every start of every command; its logins, failures and
    # lockouts (other axes loggers) stay.
    "loggers": {"django.request": {"level": "ERROR"}, "axes.apps": {"level": "WARNING"}},
}

LOGIN_URL = "login"
# Where a login lands without a `next`; an operator's account lands on My work instead (crm.views.LoginView).
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# CSRF failures under /api/ are answered in JSON like every other API error.
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"

# The proxies whose X-Forwarded-For names the client (the variable gunicorn reads for the same purpose).
# Behind nginx on another box, set it to that box's address on every app host.
FORWARDED_ALLOW_IPS = env.list("FORWARDED_ALLOW_IPS", default=["127.0.0.1", "::1"])

# Login lockout with django-axes: after LOGIN_FAILURE_LIMIT failed logins for one user name from one
# address, that pair is refused (even with the right password) for LOGIN_COOLOFF_MINUTES, or until a
# supervisor unlocks it (admin: Sign-in lockout > Access attempts, or `manage.py axes_reset_username <name>`).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: it refuses a locked-out pair before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=30))
# Per user name and address together: a guesser cannot lock a colleague out from elsewhere, and one
# shared office address does not lock everyone out for one person's typos.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "axes_lockout.html"
AXES_CLIENT_IP_CALLABLE = "throttle.services.client_ip"

# Failed webhook/API authentication: a client address may fail this often per window, then gets 429.
API_AUTH_FAILURE_LIMIT = env.int("API_AUTH_FAILURE_LIMIT", default=20)
API_AUTH_FAILURE_WINDOW_SECONDS = env.int("API_AUTH_FAILURE_WINDOW_SECONDS", default=300)
