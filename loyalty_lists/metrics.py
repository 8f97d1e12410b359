"""Prometheus metrics counted by the processes themselves (web workers, task workers).

    from loyalty_lists import metrics
    metrics.smile_request(response.status_code)

Under gunicorn and the django-q2 clusters, ``PROMETHEUS_MULTIPROC_DIR`` (created and emptied at start
by ``bin/run-prod``) makes prometheus-client keep each process's values in a file there, summed when
``/metrics`` is scraped (``loyalty_lists/ops``); without it (tests, one process) the values live in the
process. Figures read from the database at scrape time — freshness lag, queue depths, held runs — are
not counted here but collected then (``ops/collectors.py``). Like ``logging.py`` this module knows no
domain: the Smile integration imports it too.
"""

import functools

from prometheus_client import Counter, Histogram

PREFIX = "loyalty_lists"

SMILE_REQUESTS = Counter(
    f"{PREFIX}_smile_requests",
    "Smile API requests by outcome: ok, rate_limited (429), unauthorized (401), client_error (other 4xx),"
    " server_error (5xx), timeout, unreachable.",
    ["outcome"],
)
WEBHOOKS = Counter(
    f"{PREFIX}_smile_webhooks",
    "Smile webhooks received by outcome: accepted, ignored (ping, unknown topic or account), bad_signature,"
    " bad_request, too_large.",
    ["outcome"],
)
CYCLES = Counter(
    f"{PREFIX}_sync_cycles", "Sync runs done by task workers, by kind and final status.", ["kind", "status"]
)
_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)
CYCLE_SECONDS = Histogram(
    f"{PREFIX}_sync_cycle_duration_seconds",
    "Wall time of a sync task (delta, full, webhook refresh), lease wait included.",
    ["kind"],
    buckets=_SECONDS,
)
CYCLE_CPU_SECONDS = Histogram(
    f"{PREFIX}_sync_cycle_cpu_seconds",
    "CPU time (user + system) of the task worker's process during a sync task.",
    ["kind"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
REQUEST_SECONDS = Histogram(
    f"{PREFIX}_request_duration_seconds",
    "Time to answer an HTTP request, by route (the URL name; api-v1:lookup is the lookup's latency).",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def smile_request(status: int | str) -> None:
    """Count one Smile request: its HTTP status, or ``"timeout"`` / ``"unreachable"``."""
    if isinstance(status, str):
        outcome = status
    elif 200 <= status < 300:
        outcome = "ok"
    elif status == 429:
        outcome = "rate_limited"
    elif status == 401:
        outcome = "unauthorized"
    elif status >= 500:
        outcome = "server_error"
    else:
        outcome = "client_error"
    SMILE_REQUESTS.labels(outcome).inc()


def webhook_counted(view):
    """Count each answer of the webhook receiver by outcome (from its status and ``ignored`` flag)."""
    outcomes = {401: "bad_signature", 413: "too_large"}

    @functools.wraps(view)  # keeps csrf_exempt
    def counted(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        status = response.status_code
        if status == 200:
            ignored = b'"ignored"' in response.content or b'"ping"' in response.content
            outcome = "ignored" if ignored else "accepted"
        else:
            outcome = outcomes.get(status, "bad_request")
        WEBHOOKS.labels(outcome).inc()
        return response

    return counted


def cycle_observed(*, kind: str, status: str, seconds: float, cpu_seconds: float) -> None:
    CYCLES.labels(kind, status).inc()
    CYCLE_SECONDS.labels(kind).observe(seconds)
    CYCLE_CPU_SECONDS.labels(kind).observe(cpu_seconds)
