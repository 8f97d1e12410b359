"""``/healthz``, ``/readyz`` and ``/metrics`` (no session: load balancers and Prometheus) and the staff-only
Fleet page (``/admin/fleet/``, behind the Django admin's staff login)."""

import hmac
import os

from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from loyalty_lists.lists.sync.slots import slot_minute

from . import selectors
from .collectors import FleetCollector
from .health import readiness


@never_cache
@require_GET
def healthz(request):
    """The process is up and serving requests. Touches nothing else (no database, no broker)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """503 unless the database and the broker answer and a task cluster reported in the last 3 s."""
    checks = readiness()
    ready = all(ok for ok, _ in checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": {k: d for k, (_, d) in checks.items()}}
    return JsonResponse(body, status=200 if ready else 503)


def _metrics_refusal(request) -> JsonResponse | None:
    token = settings.METRICS_TOKEN
    if not token:
        if settings.DEBUG:
            return None
        return JsonResponse({"error": "Metrics are off: set METRICS_TOKEN to scrape them."}, status=403)
    sent = request.headers.get("Authorization", "")
    if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return None
    refusal = JsonResponse({"error": "Send Authorization: Bearer <METRICS_TOKEN>."}, status=401)
    refusal["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return refusal


@never_cache
@require_GET
def metrics(request):
    """Prometheus text format: every process's counters (``PROMETHEUS_MULTIPROC_DIR``) and the fleet's
    figures read now (``collectors.py``). Needs ``Authorization: Bearer $METRICS_TOKEN``."""
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessMetrics())
    registry.register(FleetCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class _ProcessMetrics:
    """This process's own metrics (no multiprocess directory: tests, a single process)."""

    def collect(self):
        return REGISTRY.collect()


def fleet(request):
    """The Fleet page: merchants by lag, failing and needs-reconnect connections, held runs, queues."""
    lagging = selectors.merchants_by_lag()
    for state in lagging:
        state.slot = f"{slot_minute(state.merchant_id) // 60:02d}:{slot_minute(state.merchant_id) % 60:02d}"
    context = {
        **admin.site.each_context(request),
        "title": "Fleet",
        "summary": selectors.fleet_summary(),
        "lagging": lagging,
        "failing": selectors.failing_connections(),
        "held": selectors.held_results(),
        "interval_minutes": settings.SYNC_INTERVAL_MINUTES,
        "full_queue": settings.SYNC_FULL_QUEUE,
    }
    return render(request, "ops/fleet.html", context)


fleet_view = admin.site.admin_view(fleet)
