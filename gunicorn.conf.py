"""gunicorn settings for Leadflow: `gunicorn config.wsgi` picks this file up from the working directory.

Every value can be overridden from the environment; the defaults suit a small box (1-2 cores).
"""

import multiprocessing
import os
import resource

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# Slow or idle clients must not stall the service (docs/security.md). A sync worker (or a gthread
# thread) waits on one client until its request has arrived, so a few sockets sending half a request
# froze every worker. This worker class is gthread whose event loop reads each whole request (head and
# a body up to 64 KiB) without blocking, from any number of connections, and hands it to a thread only
# when it is complete; GUNICORN_REQUEST_READ_TIMEOUT (10 s) disconnects clients that never finish and
# GUNICORN_IO_TIMEOUT (10 s) bounds each read and write a thread makes. It works the same behind nginx
# (deploy/nginx.conf buffers too) and without it.
worker_class = "config.gunicorn_worker.BufferingThreadWorker"
# 2 workers per core, at least 2. One thread each: a thread only ever gets a request that has fully
# arrived, so more threads would buy little and each thread holds a database connection of its own.
workers = int(os.environ.get("GUNICORN_WORKERS", max(2, multiprocessing.cpu_count() * 2)))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# Connections a worker keeps open at once (waiting or kept alive), below its file descriptor limit so
# that accept() never fails with "too many open files" (raise LimitNOFILE in systemd for more).
_soft_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
_max_connections = 1000 if _soft_nofile == resource.RLIM_INFINITY else max(64, min(1000, _soft_nofile - 64))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", _max_connections))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Keep-alive off by default, as it was with sync workers: a worker with a free thread takes the next
# connection waiting for any worker, whereas a kept-alive connection would queue its next request on the
# same worker ahead of them (under load, new connections then waited seconds). nginx opens a new
# connection to the app per request anyway (deploy/nginx.conf).
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
