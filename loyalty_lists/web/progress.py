"""What the sync panel and its self-updating progress bar show.

The sync engine keeps ``pages_fetched`` / ``customers_fetched`` current on the running ``SyncRun``
(committed with every batch) and sets ``lists_published`` when the run publishes. *Sync now*, list
changes and the schedules queue a cycle: a ``queued`` ``SyncRun`` in the database, which the panel shows
until a worker starts it — with why it waits when another cycle holds the merchant's lease (running, or
a stopped worker's lease that expires by itself, after which the sweep restarts the work).
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from loyalty_lists.lists import selectors as lists_selectors
from loyalty_lists.lists.models import SyncLease, SyncRun

ESTIMATE_CAP = 95  # a running bar never claims to be done


@dataclass
class SyncProgress:
    run: SyncRun | None  # the latest delta/full run that started, any status
    queued: SyncRun | None  # the cycle asked for and not started yet
    last_good: SyncRun | None
    lists_total: int
    percent: int | None  # for <progress value>; None = indeterminate
    lease_expires_at: datetime | None = None  # the lease holder's, while one holds it
    stuck: bool = False  # "running", but its worker stopped heartbeating: the sweep takes over

    @property
    def waiting(self) -> bool:
        return self.queued is not None

    @property
    def running(self) -> bool:
        return self.run is not None and self.run.status == SyncRun.Status.RUNNING and not self.stuck

    @property
    def polling(self) -> bool:
        return self.running or self.waiting

    @property
    def blocked_by_running(self) -> bool:
        """Queued behind a cycle that is running now."""
        return self.waiting and self.running

    @property
    def blocked_by_stopped_worker(self) -> bool:
        """Queued behind a lease whose holder stopped: it expires by itself (``lease_expires_at``)."""
        return self.waiting and self.stuck

    @property
    def last_failed(self) -> SyncRun | None:
        """The latest run, when it failed (the lists kept their last good state)."""
        if self.run is not None and self.run.status == SyncRun.Status.FAILED:
            return self.run
        return None


def _estimate(merchant, run: SyncRun) -> int | None:
    """Customers a full run will fetch: what the previous completed full run fetched. Deltas: unknown."""
    if run.kind != SyncRun.Kind.FULL:
        return None
    previous = (
        SyncRun.objects.for_merchant(merchant)
        .filter(
            kind=SyncRun.Kind.FULL, status__in=lists_selectors.GOOD_STATUSES, started_at__lt=run.started_at
        )
        .order_by("-started_at")
        .values_list("customers_fetched", flat=True)
        .first()
    )
    return previous or None


def sync_progress(*, merchant) -> SyncProgress:
    run = lists_selectors.latest_cycle_run(merchant=merchant)
    queued = lists_selectors.queued_cycle_run(merchant=merchant)
    last_good = lists_selectors.last_good_sync(merchant=merchant)
    lists_total = lists_selectors.lists_for_merchant(merchant=merchant).count()
    lease = SyncLease.objects.for_merchant(merchant).filter(holder__isnull=False).first()
    percent, stuck = None, False
    if run is not None and run.status == SyncRun.Status.RUNNING:
        stuck = lease is None or lease.expires_at < timezone.now()
        estimate = _estimate(merchant, run)
        if estimate:
            percent = min(ESTIMATE_CAP, int(100 * run.customers_fetched / estimate))
    return SyncProgress(
        run=run,
        queued=queued,
        last_good=last_good,
        lists_total=lists_total,
        percent=percent,
        lease_expires_at=lease.expires_at if lease is not None else None,
        stuck=stuck,
    )
