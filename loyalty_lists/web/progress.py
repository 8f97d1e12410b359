"""What the sync panel and its self-updating progress bar show.

The sync engine keeps ``pages_fetched`` / ``customers_fetched`` current on the running ``SyncRun``
(committed with every batch) and sets ``lists_published`` when the run publishes. *Sync now* and list
changes only queue a cycle, so the session remembers when one was requested (and its task): until a run
starts, the task is done, or ``WAIT_FOR_WORKER`` passes, the panel shows "queued" and keeps polling.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from loyalty_lists.lists import selectors as lists_selectors
from loyalty_lists.lists.models import SyncRun

SESSION_KEY = "web_sync_requested_at"
TASK_KEY = "web_sync_task"
WAIT_FOR_WORKER = timedelta(seconds=90)
ESTIMATE_CAP = 95  # a running bar never claims to be done


@dataclass
class SyncProgress:
    run: SyncRun | None  # the latest delta/full run, any status
    last_good: SyncRun | None
    lists_total: int
    waiting: bool  # requested, no run has started yet
    percent: int | None  # for <progress value>; None = indeterminate
    stuck: bool = False  # "running" for longer than a task may live: its worker died

    @property
    def running(self) -> bool:
        return self.run is not None and self.run.status == SyncRun.Status.RUNNING and not self.stuck

    @property
    def polling(self) -> bool:
        return self.running or self.waiting

    @property
    def last_failed(self) -> SyncRun | None:
        """The latest run, when it failed (the lists kept their last good state)."""
        if self.run is not None and self.run.status == SyncRun.Status.FAILED:
            return self.run
        return None


def sync_requested(session, task_id: str | None = None) -> None:
    """Remember that a cycle was just queued (Sync now, a new or changed list), and its django-q task
    when known: the wait ends when a run starts or the task is done (e.g. skipped: a cycle was running)."""
    session[SESSION_KEY] = timezone.now().isoformat()
    if task_id:
        session[TASK_KEY] = task_id
    else:
        session.pop(TASK_KEY, None)


def _task_done(task_id) -> bool:
    from django_q.models import Task

    return isinstance(task_id, str) and Task.objects.filter(id=task_id).exists()


def _requested_at(session) -> datetime | None:
    value = session.get(SESSION_KEY) if session is not None else None
    return parse_datetime(value) if isinstance(value, str) else None


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


def sync_progress(*, merchant, session=None) -> SyncProgress:
    run = lists_selectors.latest_cycle_run(merchant=merchant)
    last_good = lists_selectors.last_good_sync(merchant=merchant)
    lists_total = lists_selectors.lists_for_merchant(merchant=merchant).count()
    requested_at = _requested_at(session)
    waiting = False
    if requested_at is not None:
        fresh = timezone.now() - requested_at < WAIT_FOR_WORKER
        started_since = run is not None and run.started_at >= requested_at
        waiting = fresh and not started_since and not _task_done(session.get(TASK_KEY))
        if not waiting:
            session.pop(SESSION_KEY, None)
            session.pop(TASK_KEY, None)
    percent, stuck = None, False
    if run is not None and run.status == SyncRun.Status.RUNNING:
        stuck = (
            timezone.now() - run.started_at > timedelta(seconds=settings.SYNC_TASK_TIMEOUT) + WAIT_FOR_WORKER
        )
        estimate = _estimate(merchant, run)
        if estimate:
            percent = min(ESTIMATE_CAP, int(100 * run.customers_fetched / estimate))
    return SyncProgress(
        run=run,
        last_good=last_good,
        lists_total=lists_total,
        waiting=waiting,
        percent=percent,
        stuck=stuck,
    )
