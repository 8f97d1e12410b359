"""Cross-merchant reads for operators (the Fleet page, the metrics' scrape-time figures).

These are the only reads in the project that span merchants on purpose: they answer "which merchants
are behind, failing or held?". Nothing here is reachable by a merchant's session or API key (the Fleet
page is behind the Django admin's staff check, ``/metrics`` behind ``METRICS_TOKEN``); every list is
bounded (``limit``) and every figure is one aggregate query, whatever the number of merchants.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, F, Q

from integrations.smile.models import SmileConnection
from loyalty_lists.lists.models import ListRunResult, RefreshRequest, SyncRun, SyncState
from loyalty_lists.lists.sync.dispatch import queue_depths

CONNECTED = SmileConnection.Status.CONNECTED
NEEDS_RECONNECT = SmileConnection.Status.NEEDS_RECONNECT


@dataclass(frozen=True)
class FleetSummary:
    connected: int
    needs_reconnect: int
    never_synced: int  # connected, no good cycle yet
    failing: int  # connected, a Smile error newer than the last good cycle
    held: int  # list results waiting for an admin's approval
    refreshes_waiting: int  # webhook refresh requests not drained yet
    queued: int  # cycles queued, not started
    queue_depths: dict[str, int] = field(default_factory=dict)  # tasks waiting in each django-q2 queue


def _synced_states():
    return SyncState.objects.filter(merchant__smile_connection__status=CONNECTED)


def _failing():
    return (
        _synced_states()
        .filter(
            merchant__smile_connection__last_error_at__isnull=False,
        )
        .filter(Q(watermark__isnull=True) | Q(watermark__lt=F("merchant__smile_connection__last_error_at")))
    )


def fleet_summary() -> FleetSummary:
    connections = SmileConnection.objects.aggregate(
        connected=Count("pk", filter=Q(status=CONNECTED)),
        needs_reconnect=Count("pk", filter=Q(status=NEEDS_RECONNECT)),
    )
    synced = _synced_states().filter(watermark__isnull=False).count()
    return FleetSummary(
        connected=connections["connected"],
        needs_reconnect=connections["needs_reconnect"],
        never_synced=connections["connected"] - synced,
        failing=_failing().count(),
        held=ListRunResult.objects.filter(decision=ListRunResult.Decision.PENDING).count(),
        refreshes_waiting=RefreshRequest.objects.count(),
        queued=SyncRun.objects.filter(status=SyncRun.Status.QUEUED).count(),
        queue_depths=queue_depths(),
    )


def merchants_by_lag(*, limit: int = 50) -> list[SyncState]:
    """Connected merchants whose last good cycle is oldest (never synced first), with the merchant and
    its connection."""
    return list(
        _synced_states()
        .select_related("merchant", "merchant__smile_connection")
        .order_by(F("watermark").asc(nulls_first=True), "merchant_id")[:limit]
    )


def failing_connections(*, limit: int = 50) -> list[SmileConnection]:
    """Connections that need reconnecting, then connected ones whose latest Smile error is newer than
    their last good cycle; newest error first."""
    failing_ids = _failing().values("merchant_id")
    return list(
        SmileConnection.objects.filter(
            Q(status=NEEDS_RECONNECT) | Q(status=CONNECTED, merchant_id__in=failing_ids)
        )
        .select_related("merchant")
        .order_by("-status", F("last_error_at").desc(nulls_last=True))[:limit]
    )


def held_results(*, limit: int = 50) -> list[ListRunResult]:
    """List results held for approval, oldest first."""
    return list(
        ListRunResult.objects.filter(decision=ListRunResult.Decision.PENDING)
        .select_related("merchant", "list", "run")
        .order_by("run__started_at", "pk")[:limit]
    )


def freshness_watermarks() -> list[datetime]:
    """The last good cycle's start of every connected merchant that had one (the lag histogram)."""
    return list(_synced_states().filter(watermark__isnull=False).values_list("watermark", flat=True))
