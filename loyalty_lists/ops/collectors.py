"""Figures ``/metrics`` reads from the database and the broker at scrape time (a custom collector).

They describe the fleet, not one process, so no process counts them: each scrape asks once. With
10,000 merchants a scrape is six aggregate queries and one list of 10,000 timestamps (the lag
histogram is bucketed here).
"""

import bisect

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from loyalty_lists.metrics import PREFIX

from . import selectors

LAG_BUCKETS = (60, 300, 600, 900, 1200, 1800, 3600, 7200, 21600, 86400)  # seconds


def lag_histogram(lags: list[float]) -> tuple[list[tuple[str, int]], float]:
    """Cumulative ``(le, count)`` buckets (``+Inf`` last) and the sum, Prometheus' histogram shape."""
    ordered = sorted(lags)
    buckets = [(str(float(edge)), bisect.bisect_right(ordered, edge)) for edge in LAG_BUCKETS]
    return [*buckets, ("+Inf", len(lags))], float(sum(lags))


class FleetCollector(Collector):
    def collect(self):
        now = timezone.now()
        lags = [max(0.0, (now - at).total_seconds()) for at in selectors.freshness_watermarks()]
        buckets, total = lag_histogram(lags)
        lag = HistogramMetricFamily(
            f"{PREFIX}_sync_freshness_lag_seconds",
            "Across connected merchants: time since the start of their last good sync cycle (their data"
            " is at least that fresh). Merchants never synced are counted in merchants{state=never_synced}.",
        )
        lag.add_metric([], buckets, total)
        yield lag
        summary = selectors.fleet_summary()
        merchants = GaugeMetricFamily(
            f"{PREFIX}_merchants", "Merchants by connection state.", labels=["state"]
        )
        for state in ("connected", "needs_reconnect", "never_synced", "failing"):
            merchants.add_metric([state], getattr(summary, state))
        yield merchants
        depth = GaugeMetricFamily(
            f"{PREFIX}_task_queue_depth", "Tasks waiting in each django-q2 queue.", labels=["queue"]
        )
        for name, size in summary.queue_depths.items():
            depth.add_metric([name], size)
        yield depth
        yield GaugeMetricFamily(
            f"{PREFIX}_sync_cycles_queued", "Sync cycles queued and not started.", value=summary.queued
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_refresh_requests_waiting",
            "Webhook refresh requests (one per customer) not drained yet: the webhook ingest's queue.",
            value=summary.refreshes_waiting,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_held_results", "List results held for an admin's approval.", value=summary.held
        )
