"""Cycles asked for and not started yet: a ``queued`` ``SyncRun``, kept in the database.

*Sync now*, the API's sync call, a new list and the schedules all ask for a cycle with
``cycle_request``. A merchant has at most one queued run (a partial unique index): a request while one
is queued joins it (a full request upgrades a queued delta), so a flood of requests queues one cycle.
A worker takes the queued run once it holds the merchant's lease (``cycle_take``); when a cycle ends it
sends the task of the run queued meanwhile (the follow-up lives in the database, not in the process).
``cycles_fanout`` (the delta schedule) and ``cycles_queue`` (the full reconciles whose slot came,
``slots.py``) queue many at once; ``dispatch.py`` sends each task to its queue.

``sync_sweep`` (a django-q2 schedule, every minute) repairs what a dead process leaves behind:
* a lease whose holder stopped heartbeating (``kill -9``, a lost machine): its running runs are marked
  failed ("worker lost"), the lease is freed and a cycle is queued and sent, which resumes the walk;
* a queued run whose task was lost (sent long ago, the lease free): its task is sent again;
* webhook refreshes waiting with no refresh task alive (``refresh.refresh_sweep``).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from integrations.smile.selectors import connected_merchant_ids

from ..models import SyncLease, SyncRun
from . import dispatch
from .lease import lease_ttl
from .refresh import refresh_sweep

logger = logging.getLogger(__name__)

CYCLE_KINDS = (SyncRun.Kind.DELTA, SyncRun.Kind.FULL)
WORKER_LOST = "Worker lost: it stopped before the run finished (its lease expired without a heartbeat)."


def queued_run(merchant_id: int) -> SyncRun | None:
    return SyncRun.objects.filter(merchant_id=merchant_id, status=SyncRun.Status.QUEUED).first()


def cycle_request(*, merchant_id: int, kind: str = SyncRun.Kind.DELTA) -> tuple[SyncRun, bool]:
    """The merchant's queued run, created when there is none: ``(run, created)``. Send its task with
    ``cycle_send`` when ``created`` (the caller's transaction, if any, must commit first). A delta
    asked for when the next cycle must walk everyone (a first sync, an interrupted walk, a vanished
    tier) is queued as the full it will be, so pages say what is coming."""
    now = timezone.now()
    if kind != SyncRun.Kind.FULL and not dispatch.delta_ready(merchant_id):
        kind = SyncRun.Kind.FULL
    for _ in range(3):
        run = queued_run(merchant_id)
        if run is not None:
            if kind == SyncRun.Kind.FULL and run.kind != SyncRun.Kind.FULL:
                SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(kind=kind)
                run.kind = kind
            return run, False
        try:
            with transaction.atomic():
                run = SyncRun.objects.create(
                    merchant_id=merchant_id,
                    kind=kind,
                    status=SyncRun.Status.QUEUED,
                    started_at=now,
                    queued_at=now,
                    task_sent_at=now,
                )
            return run, True
        except IntegrityError:  # another request queued one at the same moment: join it
            continue
    raise RuntimeError(f"Could not queue a cycle for merchant {merchant_id}")


def cycle_send(merchant_id: int) -> str:
    """Send the task that runs the merchant's queued cycle (django-q2), to its queue (``dispatch``)."""
    SyncRun.objects.filter(merchant_id=merchant_id, status=SyncRun.Status.QUEUED).update(
        task_sent_at=timezone.now()
    )
    return dispatch.cycle_task_send(merchant_id)


def cycles_fanout(*, kind: str) -> int:
    """Queue a cycle of ``kind`` for every connected merchant (the delta schedule) and send the tasks of
    those newly queued: a handful of statements, whatever the number of merchants. Returns the tasks
    sent."""
    return cycles_queue(connected_merchant_ids(), kind=kind)


def cycles_queue(merchant_ids: list[int], *, kind: str) -> int:
    """Queue a cycle of ``kind`` for each merchant without one (a full upgrades a queued delta: its
    task forwards it to the full-walk queue) and send the new ones' tasks together. Returns the tasks
    sent. Reads every queued run rather than naming thousands of ids in one statement."""
    if not merchant_ids:
        return 0
    already = set(
        SyncRun.objects.filter(status=SyncRun.Status.QUEUED).values_list("merchant_id", flat=True)
    ) & set(merchant_ids)
    if kind == SyncRun.Kind.FULL and already:
        upgrade = SyncRun.objects.filter(status=SyncRun.Status.QUEUED).exclude(kind=kind)
        upgrade.filter(merchant_id__in=sorted(already)).update(kind=kind)
    now = timezone.now()
    new = [m for m in merchant_ids if m not in already]
    SyncRun.objects.bulk_create(
        [
            SyncRun(
                merchant_id=m,
                kind=kind,
                status=SyncRun.Status.QUEUED,
                started_at=now,
                queued_at=now,
                task_sent_at=now,
            )
            for m in new
        ],
        ignore_conflicts=True,  # a request that queued one meanwhile
        batch_size=1000,
    )
    return dispatch.cycle_tasks_send(new, kind=kind)


def cycle_take(
    merchant_id: int,
    kind: str | None,
    *,
    full_needed: bool = False,
    correlation_id: str = "",
    queued_only: bool = False,
) -> SyncRun | None:
    """Start the merchant's queued run (call holding the lease), or a new one of ``kind`` when none is
    queued (a command, a test; with ``queued_only``, the task: None). The run is a full when the
    request, the queued run or ``full_needed`` (first sync, interrupted walk, vanished tier) says so.

    Runs still "running" were left by a worker that died (we hold the lease): they are marked failed.
    One query finds both, one statement starts the run."""
    now = timezone.now()
    open_runs = list(
        SyncRun.objects.filter(
            merchant_id=merchant_id,
            kind__in=CYCLE_KINDS,
            status__in=(SyncRun.Status.QUEUED, SyncRun.Status.RUNNING),
        ).order_by()
    )
    orphans = [r.pk for r in open_runs if r.status == SyncRun.Status.RUNNING]
    if orphans:
        runs_interrupted_fail(merchant_id, pks=orphans)
    queued = next((r for r in open_runs if r.status == SyncRun.Status.QUEUED), None)
    kinds = (kind, queued.kind if queued else None)
    kind = SyncRun.Kind.FULL if full_needed or SyncRun.Kind.FULL in kinds else kind or SyncRun.Kind.DELTA
    start = {
        "status": SyncRun.Status.RUNNING,
        "kind": kind,
        "started_at": now,
        "correlation_id": correlation_id,
    }
    taken = queued is not None and SyncRun.objects.filter(pk=queued.pk, status=SyncRun.Status.QUEUED).update(
        **start
    )
    if taken:
        for name, value in start.items():
            setattr(queued, name, value)
        return queued
    if queued_only:
        return None
    return SyncRun.objects.create(merchant_id=merchant_id, **start)


def runs_interrupted_fail(merchant_id: int, message: str = WORKER_LOST, *, before=None, pks=None) -> int:
    """Mark the merchant's running cycles failed (call holding its lease, or having freed a dead one:
    then only those started ``before`` it was freed — a new holder's run is not the dead one's)."""
    runs = SyncRun.objects.filter(
        merchant_id=merchant_id, kind__in=CYCLE_KINDS, status=SyncRun.Status.RUNNING
    )
    if before is not None:
        runs = runs.filter(started_at__lt=before)
    if pks is not None:
        runs = runs.filter(pk__in=pks)
    return runs.update(status=SyncRun.Status.FAILED, error_message=message, finished_at=timezone.now())


def sync_sweep() -> dict[str, int]:
    """Repair what dead workers left (see the module docstring); cheap when there is nothing to do:
    two indexed queries, whatever the number of merchants."""
    now = timezone.now()
    done = {"leases_freed": 0, "cycles_resent": 0, "refreshes_resent": 0}
    for lease in SyncLease.objects.filter(holder__isnull=False, expires_at__lt=now):
        freed = SyncLease.objects.filter(pk=lease.pk, holder=lease.holder, expires_at__lt=now).update(
            holder=None, expires_at=None
        )
        if not freed:
            continue  # taken over meanwhile
        failed = runs_interrupted_fail(lease.merchant_id, before=now)
        logger.warning(
            "Merchant %s: the sync worker stopped heartbeating (lease expired at %s); %s run(s) marked"
            " failed, a cycle is queued to resume",
            lease.merchant_id,
            lease.expires_at,
            failed,
        )
        cycle_request(merchant_id=lease.merchant_id)
        cycle_send(lease.merchant_id)
        done["leases_freed"] += 1
    # A queued run whose task was sent long ago while no cycle holds the lease: the task was lost.
    lost_after = max(lease_ttl(), timedelta(seconds=settings.SYNC_QUEUED_RESEND_SECONDS))
    busy = SyncLease.objects.filter(holder__isnull=False, expires_at__gte=now).values("merchant_id")
    stranded = (
        SyncRun.objects.filter(status=SyncRun.Status.QUEUED)
        .filter(Q(task_sent_at__lt=now - lost_after) | Q(task_sent_at__isnull=True))
        .exclude(merchant_id__in=busy)
        .values_list("merchant_id", flat=True)
    )
    for merchant_id in stranded:
        logger.warning("Merchant %s: a queued cycle's task was lost; sending it again", merchant_id)
        cycle_send(merchant_id)
        done["cycles_resent"] += 1
    done["refreshes_resent"] = refresh_sweep(now=now)
    return done
