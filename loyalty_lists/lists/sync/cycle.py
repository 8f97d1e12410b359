"""One sync cycle for one merchant: lease -> customers -> tiers -> publish -> record.

    run = cycle_run(merchant_id=m.pk, kind="delta")   # None when another cycle holds the lease
                                                      # (the request then waits as a queued run)

1. **Lease** (``lease.py``): at most one cycle per merchant. The cycle takes the merchant's queued run
   (``queue.py``) or starts one; every snapshot write re-checks that the lease is still its own.
2. **Customers** into the snapshot (``snapshot.py``), batched: a *delta* walks
   ``updated_at_min = watermark - SAFETY_OVERLAP``; a *full* cycle (daily, the first sync, or to finish
   a checkpointed walk) is ``full_walk.py``.
3. **Tiers**, fetched *after* the customers: a tier deleted in Smile moves its customers out of it, so
   a tier list fetched after them never shows the customers gone but the tier still there. Applied in
   the publish transaction (``tiers.tiers_apply``), so a failed cycle changes no list, not even its
   staleness, and a tier list older than one a webhook refresh applied meanwhile is ignored.
4. **Publish** (``publish.py``, the one door into a list): every list, set-wise, in one transaction.
5. **Record** (``record.py``): one ``ListRunResult`` per list, the run's totals, and the watermark — in
   the same transaction, so only a successful (or held) cycle advances it. The watermark is when the
   cycle's last pass over Smile *started* (a delta: the run's start; a full: its catch-up pass).
6. When the lease is released, a cycle queued meanwhile gets its task (the follow-up).

**Failure**: any exception before the publish commits leaves every list, the tiers and the watermark as
they were and records the error on the run. The snapshot may already hold part of the failed run's
data; that is safe because lists are only ever computed from it at a publish, every snapshot write
carries a change number above every list's ``published_seq`` (so the next publish re-examines it), and
the next cycle refetches from the unchanged watermark. A killed worker leaves its run "running" and its
lease held: ``queue.sync_sweep`` marks the run failed once the lease expires and queues the next cycle,
which resumes a full walk from its checkpoint.
"""

import logging
import uuid
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations.smile import services as smile
from integrations.smile.errors import SmileError, error_text
from loyalty_lists.logging import correlation_id as correlation_scope

from ..models import ListItem, LoyaltyList, SyncRun, SyncState
from . import queue
from .fetch import SAFETY_OVERLAP, Batch, Chain, walk
from .full_walk import full_walk
from .lease import Lease, lease_claim
from .publish import lists_with_pending, publish_lists
from .record import cycle_record, quarantine_record
from .snapshot import index_emails, upsert_customers
from .sql import analyze
from .state import seq_next, state_advance, state_ensure, state_lock
from .tiers import TierList, tier_names, tiers_apply, tiers_fetch, tiers_unchanged

logger = logging.getLogger(__name__)

ANALYZE_AFTER_ADDED = 10_000  # items added by one publish: refresh the planner's statistics


def cycle_run(
    *,
    merchant_id: int,
    kind: str | None = SyncRun.Kind.DELTA,
    client=None,
    progress=None,
    correlation_id=None,
    queued_only: bool = False,
) -> SyncRun | None:
    """Run one cycle if the merchant's lease is free; return its ``SyncRun`` (None: lease busy).

    A request that finds the lease busy is not lost: it waits as the merchant's queued run, which the
    running cycle sends when it ends (or ``queue.sync_sweep`` if that cycle's worker died).
    ``queued_only`` (the task): run only a queued run; nothing is queued when the lease is busy.
    """
    lease = lease_claim(merchant_id)
    if lease is None:
        if queued_only:
            return None
        queue.cycle_request(merchant_id=merchant_id, kind=kind or SyncRun.Kind.DELTA)
        # The holder may have released (and looked for a queued run) between our claim and the
        # request: try once more, so the request is served by the holder's follow-up or by us.
        lease = lease_claim(merchant_id)
        if lease is None:
            return None
    cid = correlation_id or f"sync-{merchant_id}-{uuid.uuid4().hex[:10]}"
    try:
        with correlation_scope(cid):
            state = state_ensure(merchant_id)
            run = queue.cycle_take(
                merchant_id,
                kind,
                # the first sync, an interrupted full walk, or a tier vanished
                full_needed=state.watermark is None or bool(state.full_walk) or state.full_due,
                correlation_id=cid,
                queued_only=queued_only,
            )
            if run is None:
                return None  # the task's queued run was taken by another cycle already
            return _Cycle(merchant_id, lease, cid, progress).run(client, run, state)
    finally:
        lease.release()
        with correlation_scope(cid):
            _follow_up(merchant_id)


def _follow_up(merchant_id: int) -> None:
    """Send the task of a cycle queued while this one ran."""
    try:
        if queue.queued_run(merchant_id) is not None:
            queue.cycle_send(merchant_id)
            logger.info("Merchant %s: sent the cycle queued during this one", merchant_id)
    except Exception:  # never let the follow-up mask the cycle's own result: the sweep sends it later
        logger.exception("Merchant %s: could not send the queued follow-up cycle", merchant_id)


class _Cycle:
    def __init__(self, merchant_id: int, lease: Lease, cid: str, progress):
        self.merchant_id = merchant_id
        self.lease = lease
        self.cid = cid
        self.progress = progress

    def _report(self, run: SyncRun, phase: str, detail=None) -> None:
        if self.progress is not None:
            self.progress(run, phase, detail)

    def run(self, client, run: SyncRun, state: SyncState) -> SyncRun:
        logger.info("Sync run %s (%s) started for merchant %s", run.pk, run.kind, self.merchant_id)
        try:
            if client is None:
                with smile.client_for_merchant(state.merchant, correlation_id=self.cid) as real_client:
                    self._run(real_client, run, state)
            else:
                self._run(client, run, state)
        except Exception as exc:
            self._fail(run, exc)
        self._report(run, "done")
        return run

    def _fail(self, run: SyncRun, exc: Exception) -> None:
        if isinstance(exc, SmileError):
            logger.warning("Sync run %s failed: %s", run.pk, exc)
        else:
            logger.exception("Sync run %s failed", run.pk)
        run.status = SyncRun.Status.FAILED
        run.error_message = error_text(exc)[:2000]
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error_message", "finished_at"])
        if isinstance(exc, SmileError):  # the connection page shows the latest Smile problem too
            smile.connection_error_record(merchant=self.merchant_id, message=run.error_message)

    def _run(self, client, run: SyncRun, state: SyncState) -> None:
        if run.kind == SyncRun.Kind.FULL:
            watermark = full_walk(self, client, run, state)
        else:
            walk(
                client,
                [Chain("all", None, updated_at_min=state.watermark - SAFETY_OVERLAP)],
                lambda batch: self.flush(run, batch),
            )
            watermark = run.started_at
        tiers = tiers_fetch(client, merchant=state.merchant)
        self._report(run, "tiers", len(tiers.tiers))
        if run.kind == SyncRun.Kind.DELTA and self._record_if_unchanged(run, tiers, watermark):
            return
        self._publish(run, tiers, watermark)

    def flush(
        self, run: SyncRun, batch: Batch, checkpoint: dict | None = None, *, counted: bool = True
    ) -> None:
        """Write a batch of rows (and the walk's checkpoint) while the lease is ours. Tier names are
        read under the state lock: a tier a webhook refresh just found vanished is never written back
        with its old name. Quarantined records (malformed in Smile's answer) keep their snapshot rows
        as they were — only seen, so a full walk does not take them for gone — and are recorded.
        ``counted=False``: the page counts, its customers do not (the walk fetches them again)."""
        if not (batch.rows or batch.quarantined or checkpoint):  # nothing to write (a delta, no change)
            run.pages_fetched += batch.pages
            return
        self.lease.heartbeat()
        customers = len(batch.rows) if counted else 0
        with transaction.atomic():
            saved = {} if checkpoint is None else {"full_walk": checkpoint}
            seq = seq_next(self.merchant_id, lease_holder=self.lease.holder, **saved)
            upsert_customers(self.merchant_id, batch.rows, seq=seq, tier_names=tier_names(self.merchant_id))
            if batch.quarantined:
                quarantine_record(run, batch.quarantined)
            SyncRun.objects.filter(pk=run.pk).update(
                pages_fetched=F("pages_fetched") + batch.pages,
                customers_fetched=F("customers_fetched") + customers,
            )
        run.pages_fetched += batch.pages
        run.customers_fetched += customers
        self._report(run, "fetch")

    def _record_if_unchanged(self, run: SyncRun, tiers: TierList, watermark: datetime) -> bool:
        """A delta that learnt nothing — no list has anything to publish and the tiers are as stored —
        skips the publish transaction: three queries to know, three statements to record (the watermark,
        the lists' "last synced", the run) instead of a set-wise publish of every list (~45 ms CPU and
        ~65 queries for 3 lists). Most deltas of most merchants find no change: this is what a fleet's
        15-minute rounds cost (bench figure 10). No per-list results are recorded: the history and the
        size chart show the runs that changed something. The statements need no transaction: the
        watermark moves only while the lease is ours (checked in the same statement), and a run left
        "running" by a crash after it is failed by the next cycle."""
        lists = lists_with_pending(self.merchant_id)
        live = [lst.pk for lst in lists if not lst.is_stale]
        if (
            not live
            or any(lst.pending for lst in lists)
            or not tiers_unchanged(self.merchant_id, tiers, lists)
        ):
            return False
        now = timezone.now()
        state_advance(
            self.merchant_id,
            lease_holder=self.lease.holder,
            watermark=watermark,
            tiers_fetched_at=tiers.fetched_at,
        )
        LoyaltyList.objects.filter(pk__in=live).update(last_published_at=now)
        run.status, run.finished_at, run.lists_published = SyncRun.Status.SUCCEEDED, now, len(live)
        run.save(
            update_fields=["status", "finished_at", "lists_published", "pages_fetched", "customers_fetched"]
        )
        logger.info("Sync run %s succeeded: nothing changed in Smile for the %s lists", run.pk, len(live))
        return True

    def _publish(self, run: SyncRun, tiers: TierList, watermark: datetime) -> None:
        full = run.kind == SyncRun.Kind.FULL
        now = timezone.now()
        with transaction.atomic():
            self.lease.heartbeat(force=True)  # still ours: nobody else can publish meanwhile
            state = state_lock(self.merchant_id)
            seq = seq_next(self.merchant_id)
            tiers_apply(self.merchant_id, tiers, now=now, seq=seq)
            index_emails(self.merchant_id)  # reads by email move with the lists
            self._report(run, "publish")
            outcomes = publish_lists(
                merchant_id=self.merchant_id,
                run=run,
                now=now,
                published_seq=seq,
                progress=lambda outcome: self._report(run, "list", outcome),
            )
            cycle_record(run, outcomes)
            state.watermark = watermark
            if full:
                state.last_full_at = watermark
            state.save(update_fields=["watermark", "last_full_at"])
            run.finished_at = timezone.now()
            run.save()
        if run.items_added > ANALYZE_AFTER_ADDED:
            analyze(ListItem)
        logger.info(
            "Sync run %s %s: %s lists published, +%s -%s ~%s items",
            run.pk,
            run.status,
            run.lists_published,
            run.items_added,
            run.items_removed,
            run.items_changed,
        )
