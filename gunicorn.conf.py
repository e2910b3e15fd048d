"""gunicorn settings for Leadflow: `gunicorn config.wsgi` picks this file up from the working directory.

Every value can be overridden from the environment; the defaults suit a small box (1-2 cores).
gunicorn always runs behind nginx, which buffers requests and answers and deals with slow, idle and
flooding clients (deploy/nginx.conf for several hosts, bin/serve on one box; docs/security.md).
"""

import multiprocessing
import os

# Only local by default: nginx is the public face (bin/serve). An app host behind an nginx on another box
# binds its private address instead (GUNICORN_BIND=10.0.0.11:8000, deploy/leadflow-web.service).
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# gunicorn's stock sync worker: one request at a time per process. It blocks on its client until the
# request has arrived and while the answer is sent, so it needs a buffering proxy in front (gunicorn's
# deployment guide): nginx passes a request on only once it has all of it and takes the whole answer at
# once, so a worker only ever talks to nginx, never to a slow client.
worker_class = "sync"
# 2 workers per core, at least 2. Each holds one database connection.
workers = int(os.environ.get("GUNICORN_WORKERS", max(2, multiprocessing.cpu_count() * 2)))
# More than one thread makes gunicorn use its gthread worker; each thread holds a database connection of
# its own, so PostgreSQL sees hosts x workers x threads connections.
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Keep-alive off: sync workers close every connection after the answer anyway, and nginx opens a new
# connection per request (no upstream pool). With threads (gthread) a kept-alive connection would queue
# its next request on the same worker ahead of new connections waiting for any worker.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "0"))
# Recycle workers now and then so that a slow leak can never grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10
# The app is imported once, in the master, and every worker is forked from it: a recycled worker is up at
# once instead of spending most of a second of CPU importing Django and the app again while the others
# serve (and the workers share those pages of memory). Nothing connects to the database at import.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() != "false"

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")  # stdout
errorlog = "-"  # stderr
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# The access log never includes request headers, so bearer tokens stay out of it.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# Trust X-Forwarded-* only from the local proxy unless told otherwise. Django reads the same variable
# to find the client's address behind the proxy (throttle.services.client_ip), with the same default.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
wsgi_app = "config.wsgi:application"
# gunicornc's control socket defaults to one path per user, which several instances on one box would
# share; it is off unless a path is given.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket
