"""gunicorn settings for Leadflow: `gunicorn config.wsgi` picks this file up from the working directory.

Every value can be overridden from the environment; the defaults suit a small box (1-2 cores).
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# Sync workers: each request holds one database connection for its whole life; 2 per core, at least 2.
workers = int(os.environ.get("GUNICORN_WORKERS", max(2, multiprocessing.cpu_count() * 2)))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then so that a slow leak can never grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")  # stdout
errorlog = "-"  # stderr
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# The access log never includes request headers, so bearer tokens stay out of it.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# Trust X-Forwarded-* only from the local proxy unless told otherwise.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
wsgi_app = "config.wsgi:application"
# gunicornc's control socket defaults to one path per user, which several instances on one box would
# share; it is off unless a path is given.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket
