"""gunicorn settings: `gunicorn -c gunicorn.conf.py` (see README.md, "Running in production").

Environment:
  BIND                 address(es) to listen on, comma-separated (e.g. "0.0.0.0:8000,unix:/run/lists.sock");
                       default 0.0.0.0:$PORT when PORT is set, otherwise 127.0.0.1:8000
  WEB_CONCURRENCY      worker processes (default 2 x CPU cores + 1, at most 8)
  GUNICORN_TIMEOUT     seconds a request may take before its worker is restarted (default 30)
  FORWARDED_ALLOW_IPS  proxies trusted for X-Forwarded-Proto, comma-separated (default 127.0.0.1,::1);
                       HTTPS requests arriving through them are seen as secure by Django
  GUNICORN_MAX_REQUESTS    requests per worker before it is replaced (default 50000, 10 % jitter; 0: never)
  GUNICORN_PRELOAD     load and warm the app once in the master, before forking workers (default on; off
                       only to let HUP reload the code)
  GUNICORN_CONTROL_SOCKET  path of gunicorn's control socket for `gunicornc` (default: none)
"""

import os

wsgi_app = "loyalty_lists.wsgi:application"
proc_name = "loyalty-lists"

if os.environ.get("BIND"):
    bind = [address.strip() for address in os.environ["BIND"].split(",") if address.strip()]
elif os.environ.get("PORT"):
    bind = [f"0.0.0.0:{os.environ['PORT']}"]  # the platform convention (Heroku, Render, ...)
else:
    bind = ["127.0.0.1:8000"]

# Sync workers: requests are short (pages, JSON lookups); the slow work runs in the qcluster processes.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * (os.cpu_count() or 1) + 1, 8))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30  # on SIGTERM, finish in-flight requests for up to this long
keepalive = 5  # behind a proxy that reuses connections
# Recycle workers now and then (a guard against slow leaks), with jitter so they do not all restart
# together. Not too often: a restart costs the next requests a cold worker (Django setup, new database
# connection), which showed as p99 spikes under load at 2,000.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "50000"))
max_requests_jitter = max_requests // 10
# A recycled worker must not make its first requests wait for Django's lazy start-up (URL confs, views,
# the API's schemas: ~1 s, seen as lookups of ~1 s and a p99 of 258 ms under recycling). So the master
# loads the app and warms it before forking: every worker, the first and the replacements, starts warm.
# (HUP then restarts workers without reloading code: deploy with a restart.)
preload_app = os.environ.get("GUNICORN_PRELOAD", "1").lower() not in ("0", "false", "no", "off")


def when_ready(server):
    """In the master, once the app is loaded (preload): import and build what requests would build
    lazily — the URL resolver with every URL conf and view module, and the API's OpenAPI schema. No
    database connection is opened here (workers must not share one)."""
    if not preload_app:
        return
    from django.conf import settings

    if getattr(settings, "ROOT_URLCONF", None) != "loyalty_lists.urls":
        return  # another app on this config (the benchmarks' bare baselines)
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every URL conf and view
    from loyalty_lists.api.api import api

    api.get_openapi_schema()


def post_worker_init(worker):
    """In each new worker: open its database connection before the first request needs it."""
    from django.db import connections

    for connection in connections.all(initialized_only=False):
        try:
            connection.ensure_connection()
        except Exception as exc:  # the database is down: the first request will say so, not the boot
            worker.log.warning("Could not open the %s database connection: %s", connection.alias, exc)


# The heartbeat file is touched constantly: keep it in memory, not on a (possibly slow) disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn's advice

forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Standard combined format plus the request time (ms) and the worker pid, as <pid>.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms %(p)s'

# gunicorn's control socket defaults to one shared path per user, so two servers on a machine would
# fight over it; it is opt-in here.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True
