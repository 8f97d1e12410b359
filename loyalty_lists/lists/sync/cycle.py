"""One sync cycle for one merchant: lease -> tiers -> customers -> publish -> record.

    run = cycle_run(merchant_id=m.pk, kind="delta")   # None when another cycle holds the lease
                                                      # (recorded: that cycle queues a follow-up)

1. **Lease** (``lease.py``): at most one cycle per merchant; heartbeats while fetching; re-checked
   inside the publish transaction.
2. **Tiers**: fetched first (one call); applied to ``VipTier`` / stale lists inside the publish
   transaction, so a failed cycle changes no list, not even its staleness.
3. **Customers** (``fetch.py``) into the snapshot (``snapshot.py``), batched:
   * *delta*: ``updated_at_min = watermark - SAFETY_OVERLAP``, one unfiltered chain;
   * *full* (daily, the first sync, and whenever an unfinished full walk is checkpointed): parallel cursor
     chains, one per id range holding an equal share of the customers the snapshot knows
     (``SYNC_FULL_WALK_CHAINS``), or one per state on the first sync, the largest one split as the others
     finish (per state and unsplit when Smile does not take made-up cursors, see ``fetch.py``). Every
     commit stores the chains' cursors (``SyncState.full_walk``) with its rows, and a chain asks for its
     next page only after that commit, so a crash resumes the walk and refetches at most one page per
     chain. When the walk completes, one delta pass from the walk's start catches customers that changed
     after the walk had passed them (during a long walk, or between a crash and the resume). Then live
     rows nobody saw since the walk started are gone from Smile (re-checked one by one with
     ``get_customer`` when there are few — this catches a customer who changed state between two parallel
     chains) and are tombstoned; they leave every list at the publish. (A customer deleted after the walk
     saw them is caught by the next full walk.)
4. **Publish** (``publish.py``): every non-stale list, set-wise, in one transaction; guardrail per list.
5. **Record**: ``SyncRunList`` per list, totals on the ``SyncRun``, and the watermark — in the same
   transaction, so only a successful (or held) cycle advances it. The watermark is when the cycle's
   last pass over Smile *started* (a delta: the run's start; a full: its catch-up pass), never its end.

**Failure**: any exception before the publish commits leaves every list, the tiers and the watermark as
they were and records the error on the run. The snapshot may already hold part of the failed run's
data; that is safe because lists are only ever computed from it at a publish, every snapshot write
carries a change number above every list's ``published_seq`` (so the next publish re-examines it), and
the next cycle refetches from the unchanged watermark. A crash (killed worker) leaves the run
"running"; the next cycle that claims the lease marks it interrupted.
"""

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.smile.errors import SmileError
from loyalty_lists.logging import correlation_id as correlation_scope

from ..models import ListItem, SmileCustomer, SyncRun, SyncRunList, SyncState, VipTier
from .fetch import PAGE_LIMIT, Chain, CursorUnsupported, walk
from .lease import Lease, lease_claim
from .publish import ListOutcome, publish_lists
from .snapshot import index_emails, tombstone_customers, unseen_since, upsert_customers
from .sql import analyze
from .state import seq_next, state_ensure, state_lock
from .tiers import tier_names, tiers_apply

logger = logging.getLogger(__name__)

SAFETY_OVERLAP = timedelta(minutes=5)
FULL_WALK_STATES = ("member", "candidate", "disabled")
ID_RANGE_MIN_CUSTOMERS = 5000  # smaller programs are walked per state (id ranges would gain little)
ANALYZE_AFTER_ADDED = 10_000  # items added by one publish: refresh the planner's statistics
GONE_VERIFY_MAX = 100  # re-check at most this many "unseen" customers one by one
WEBHOOK_RUN_ORPHAN_AFTER = timedelta(minutes=10)


def cycle_run(
    *,
    merchant_id: int,
    kind: str = SyncRun.Kind.DELTA,
    client=None,
    progress=None,
    correlation_id=None,
    follow_up: bool = False,
) -> SyncRun | None:
    """Run one cycle if the merchant's lease is free; return its ``SyncRun`` (None: lease busy).

    A request that finds the lease busy is not lost: it is recorded (``SyncState.rerun_requested_at``)
    and the running cycle, when it finishes (succeeded or failed), queues one follow-up cycle if a
    request arrived after it started. A ``follow_up`` cycle that finds the lease busy records nothing:
    whoever holds the lease then claimed it after the request, so that cycle covers it (no loops).
    """
    claimed_at = timezone.now()
    lease = lease_claim(merchant_id)
    if lease is None:
        if follow_up:
            return None
        rerun_request(merchant_id)
        # The holder may have released (and checked for requests) between our claim and the record:
        # try once more, so the request is served either by the holder's follow-up or by us.
        claimed_at = timezone.now()
        lease = lease_claim(merchant_id)
        if lease is None:
            return None
    cid = correlation_id or f"sync-{merchant_id}-{uuid.uuid4().hex[:10]}"
    try:
        with correlation_scope(cid):
            return _Cycle(merchant_id, kind, lease, cid, progress).run(client)
    finally:
        lease.release()
        # After the release: a later request claims the lease itself (a request racing with this
        # check re-tries the claim after recording itself, see above).
        with correlation_scope(cid):
            _rerun_if_requested(merchant_id, since=claimed_at)


def rerun_request(merchant_id: int) -> None:
    """Record that a cycle was asked for while another held the lease."""
    state_ensure(merchant_id)
    SyncState.objects.filter(merchant_id=merchant_id).update(rerun_requested_at=timezone.now())
    logger.info("Merchant %s: a cycle is running; a follow-up cycle was requested", merchant_id)


def _rerun_if_requested(merchant_id: int, *, since: datetime) -> None:
    """Queue one follow-up cycle if a request arrived after ``since`` (consumes the request)."""
    try:
        taken = SyncState.objects.filter(merchant_id=merchant_id, rerun_requested_at__gte=since).update(
            rerun_requested_at=None
        )
        if taken:
            from ..services import sync_enqueue  # services imports this module

            state = SyncState.objects.select_related("merchant").get(merchant_id=merchant_id)
            sync_enqueue(merchant=state.merchant, follow_up=True)
            logger.info("Merchant %s: queued the follow-up cycle requested during this one", merchant_id)
    except Exception:  # never let the follow-up bookkeeping mask the cycle's own result
        logger.exception("Merchant %s: could not queue the requested follow-up cycle", merchant_id)


def id_ranges(merchant_id: int, parts: int) -> dict[str, list] | None:
    """A full walk by id: ``parts`` unfiltered chains over ranges holding equally many of the customers
    the snapshot knows, highest first, as ``{key: [state, id_below, stop_below]}`` (None: open-ended).
    None when the snapshot is too small to tell (the first sync) or one chain is asked for."""
    if parts < 2:
        return None
    ids = (
        SmileCustomer.objects.filter(merchant_id=merchant_id)
        .order_by("smile_id")
        .values_list("smile_id", flat=True)
    )
    total = ids.count()
    if total < max(ID_RANGE_MIN_CUSTOMERS, parts * PAGE_LIMIT):
        return None
    cuts = sorted({ids[total * k // parts] for k in range(1, parts)})  # one indexed OFFSET each
    highs = [None, *cuts[::-1]]
    lows = [*cuts[::-1], None]
    return {f"ids{n}": [None, high, low] for n, (high, low) in enumerate(zip(highs, lows, strict=True))}


def state_chains() -> dict[str, list]:
    return {state: [state, None, None] for state in FULL_WALK_STATES}


def full_walk_chains(checkpoint: dict) -> list[Chain]:
    """The unfinished chains of a full walk (as the checkpoint has them, splits included)."""
    cursors, done = checkpoint["cursors"], checkpoint["done"]
    return [
        Chain(key, state, start_cursor=cursors.get(key), id_below=high, stop_below=low)
        for key, (state, high, low) in checkpoint["chains"].items()
        if key not in done
    ]


def error_text(exc: BaseException) -> str:
    if isinstance(exc, SmileError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class _Cycle:
    def __init__(self, merchant_id: int, kind: str, lease: Lease, cid: str, progress):
        self.merchant_id = merchant_id
        self.requested_kind = kind
        self.lease = lease
        self.cid = cid
        self.progress = progress
        self.tier_names: dict[int, str] = {}

    def _report(self, run: SyncRun, phase: str, detail=None) -> None:
        if self.progress is not None:
            self.progress(run, phase, detail)

    def run(self, client) -> SyncRun:
        state = state_ensure(self.merchant_id)
        self._close_orphans()
        kind = self.requested_kind
        if kind == SyncRun.Kind.DELTA and (state.watermark is None or state.full_walk):
            kind = SyncRun.Kind.FULL  # first sync, or finish an interrupted full walk
        run = SyncRun.objects.create(
            merchant_id=self.merchant_id, kind=kind, started_at=timezone.now(), correlation_id=self.cid
        )
        logger.info("Sync run %s (%s) started for merchant %s", run.pk, kind, self.merchant_id)
        try:
            if client is None:
                from integrations.smile.client import client_for_merchant

                with client_for_merchant(state.merchant, correlation_id=self.cid) as real_client:
                    self._run(real_client, run, state)
            else:
                self._run(client, run, state)
        except Exception as exc:
            self._fail(run, exc)
        self._report(run, "done")
        return run

    def _close_orphans(self) -> None:
        """Runs left "running" by a killed worker (we hold the lease, so no cycle is really running)."""
        now = timezone.now()
        runs = SyncRun.objects.filter(merchant_id=self.merchant_id, status=SyncRun.Status.RUNNING)
        message = "Interrupted: the worker stopped before the run finished."
        runs.exclude(kind=SyncRun.Kind.WEBHOOK).update(
            status=SyncRun.Status.FAILED, error_message=message, finished_at=now
        )
        runs.filter(kind=SyncRun.Kind.WEBHOOK, started_at__lt=now - WEBHOOK_RUN_ORPHAN_AFTER).update(
            status=SyncRun.Status.FAILED, error_message=message, finished_at=now
        )

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
            from integrations.smile.services import connection_error_record

            connection_error_record(merchant=self.merchant_id, message=run.error_message)

    # --- the cycle ------------------------------------------------------------------------------
    def _run(self, client, run: SyncRun, state: SyncState) -> None:
        tiers = client.list_vip_tiers()
        # Snapshot rows are written with the *last good* tier names (VipTier); the publish applies this
        # cycle's tier list (renames included) to them and to VipTier in one transaction, so a failed
        # cycle leaves snapshot names matching VipTier and no rename is missed. Tiers VipTier does not
        # know yet (the first sync) get this cycle's names; the publish re-checks them as "created".
        known = set(VipTier.objects.filter(merchant_id=self.merchant_id).values_list("smile_id", flat=True))
        self.tier_names = {t.id: t.name for t in tiers if t.id not in known}
        self.tier_names.update(tier_names(self.merchant_id))
        self._report(run, "tiers", len(tiers))
        if run.kind == SyncRun.Kind.FULL:
            watermark = self._full_walk(client, run, state)
        else:
            since = state.watermark - SAFETY_OVERLAP
            walk(
                client,
                [Chain("all", None, updated_at_min=since)],
                lambda rows, pos, pages: self._flush(run, rows, pages),
            )
            watermark = run.started_at
        self._publish(run, tiers, watermark)

    def _flush(self, run: SyncRun, rows, pages: int, checkpoint: dict | None = None) -> None:
        self.lease.heartbeat()
        with transaction.atomic():
            saved = {} if checkpoint is None else {"full_walk": checkpoint}
            seq = seq_next(self.merchant_id, **saved)  # the walk's checkpoint in the same statement
            upsert_customers(self.merchant_id, rows, seq=seq, tier_names=self.tier_names)
            SyncRun.objects.filter(pk=run.pk).update(
                pages_fetched=F("pages_fetched") + pages, customers_fetched=F("customers_fetched") + len(rows)
            )
        run.pages_fetched += pages
        run.customers_fetched += len(rows)
        self._report(run, "fetch")

    def _full_walk(self, client, run: SyncRun, state: SyncState) -> datetime:
        checkpoint = state.full_walk
        if checkpoint:
            run.resumed = True
            run.save(update_fields=["resumed"])
            logger.info("Resuming the full walk started by run %s", checkpoint.get("run_id"))
            checkpoint.setdefault("chains", state_chains())  # written before chains were recorded
        else:
            checkpoint = {
                "started_at": run.started_at.isoformat(),
                "run_id": run.pk,
                "chains": id_ranges(self.merchant_id, settings.SYNC_FULL_WALK_CHAINS) or state_chains(),
                "cursors": {},
                "done": [],
            }
            SyncState.objects.filter(merchant_id=self.merchant_id).update(full_walk=checkpoint)
        walk_started_at = parse_datetime(checkpoint["started_at"])

        def flush(rows, position, pages):
            for key, (cursor, done) in position.items():
                checkpoint["cursors"][key] = cursor
                if done and key not in checkpoint["done"]:
                    checkpoint["done"].append(key)
            self._flush(run, rows, pages, checkpoint=checkpoint)

        def on_split(chain, stops):  # saved with the next commit, before the new chain's first page
            for key, stop_below in stops.items():
                checkpoint["chains"][key][2] = stop_below
            checkpoint["chains"][chain.key] = [chain.state, chain.id_below, chain.stop_below]

        spread = settings.SYNC_FULL_WALK_CHAINS if not checkpoint.get("no_made_up_cursors") else 0
        try:
            walk(
                client,
                full_walk_chains(checkpoint),
                flush,
                spread=spread,
                on_split=on_split,
                keys_taken=list(checkpoint["chains"]),
            )
        except CursorUnsupported as exc:
            # Rows already stored stay (upserts are idempotent); the walk starts over, per state, unsplit.
            logger.warning("Full walk by id ranges is not possible (%s); walking per state", exc)
            checkpoint.update(chains=state_chains(), cursors={}, done=[], no_made_up_cursors=True)
            SyncState.objects.filter(merchant_id=self.merchant_id).update(full_walk=checkpoint)
            walk(client, full_walk_chains(checkpoint), flush)
        # Customers the walk passed before they changed (during a long walk, or between a crash and the
        # resume) come back with one delta pass over the walk's time span.
        caught_up_at = timezone.now()
        since = walk_started_at - SAFETY_OVERLAP
        walk(
            client,
            [Chain("all", None, updated_at_min=since)],
            lambda rows, pos, pages: self._flush(run, rows, pages, checkpoint=checkpoint),
        )
        self._mark_gone(client, run, walk_started_at)
        analyze(SmileCustomer)  # the publish's plans must see the snapshot's real size
        return caught_up_at

    def _mark_gone(self, client, run: SyncRun, walk_started_at: datetime) -> None:
        """The walk completed: whoever it (or a webhook since) did not see is gone from Smile."""
        unseen = unseen_since(self.merchant_id, walk_started_at)
        found, gone_ids, set_based = [], [], False
        if unseen.count() <= GONE_VERIFY_MAX:
            for smile_id in unseen.values_list("smile_id", flat=True):
                customer = client.get_customer(smile_id)
                if customer is None:
                    gone_ids.append(smile_id)
                else:
                    found.append((customer, timezone.now()))
        else:
            set_based = True
        now = timezone.now()
        with transaction.atomic():
            seq = seq_next(self.merchant_id)
            upsert_customers(self.merchant_id, found, seq=seq, tier_names=self.tier_names)
            if set_based:
                gone = unseen_since(self.merchant_id, walk_started_at).update(gone_at=now, change_seq=seq)
            else:
                gone = tombstone_customers(self.merchant_id, gone_ids, now=now, seq=seq)
            SyncState.objects.filter(merchant_id=self.merchant_id).update(full_walk=None)
            run.customers_gone = gone
            run.save(update_fields=["customers_gone"])
        if gone:
            logger.info("Full walk: %s customers are gone from Smile", gone)

    def _publish(self, run: SyncRun, tiers, watermark: datetime) -> None:
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
            self._record(run, outcomes)
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

    def _record(self, run: SyncRun, outcomes: list[ListOutcome]) -> None:
        Outcome, Decision = SyncRunList.Outcome, SyncRunList.Decision
        decided = [o.list_id for o in outcomes if o.outcome != Outcome.STALE]
        SyncRunList.objects.filter(list_id__in=decided, decision=Decision.PENDING).update(
            decision=Decision.SUPERSEDED, decided_at=timezone.now()
        )
        SyncRunList.objects.bulk_create(
            SyncRunList(
                merchant_id=self.merchant_id,
                run=run,
                list_id=o.list_id,
                outcome=o.outcome,
                added=o.added,
                removed=o.removed,
                changed=o.changed,
                list_size=o.list_size,
                note=o.note,
                decision=Decision.PENDING if o.outcome == Outcome.HELD else "",
            )
            for o in outcomes
        )
        published = [o for o in outcomes if o.outcome == Outcome.PUBLISHED]
        run.lists_published = len(published)
        run.items_added = sum(o.added for o in published)
        run.items_removed = sum(o.removed for o in published)
        run.items_changed = sum(o.changed for o in published)
        held = any(o.outcome == Outcome.HELD for o in outcomes)
        run.status = SyncRun.Status.HELD if held else SyncRun.Status.SUCCEEDED
