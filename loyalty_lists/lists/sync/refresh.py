"""Webhook refreshes: a ``customer/updated`` webhook is a hint that one customer changed.

**Intake** (``refresh_request``, in the webhook's request): nothing is fetched. A webhook whose
``updated_at`` is not newer than the snapshot's is a duplicate or arrived out of order: recognised and
dropped. Otherwise the customer gets a ``RefreshRequest`` row (one per customer: repeats add to its
``deliveries``) and, unless one is already queued, a refresh task (``SyncState.refresh_queued_at``).

**Drain** (``refresh_drain``, the task): claims waiting requests in batches and, per batch,
1. fetches the customers — one ``GET /customers/{id}`` each, or, for a burst (``BULK_MIN`` and more
   whose webhooks carried ``updated_at``), the pages of ``GET /customers?updated_at_min=`` since the
   oldest of them (250 a call), then one by one whoever those pages did not show; 404 = gone;
2. when a customer left a VIP tier that a (live) tier list is built on, or joined a tier we do not
   know, fetches the tier list *after* the customers, so a tier deleted in Smile (which moves its
   customers out of it) is seen vanished before anyone leaves its list: the list goes stale with its
   members (``tiers.tiers_apply``);
3. in one transaction: the snapshot upsert (only newer data wins), the tombstones, and
   ``publish.publish_lists(customers=...)`` — the one door, with its stale lists, its removal
   guardrail (a burst counts like one run over the guardrail's window) and its change records;
4. records the batch on the merchant's webhook run of the current minute (``record.refresh_record``).
Every Smile call waits for the token's shared rate limit (10 req/s), with the cycles.

A refresh does not take the cycle's lease: it may run while a cycle fetches. That is safe because the
snapshot upsert only applies data at least as new as what is stored, and publishes serialise on the
merchant's ``SyncState`` row. A worker killed mid-batch leaves its claimed requests, which are claimed
again after ``REFRESH_CLAIM_TTL``; ``refresh_sweep`` (run by ``queue.sync_sweep``) re-sends the task of
requests nobody is draining.
"""

import logging
import math
import uuid
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django_q.tasks import async_task

from integrations.smile import services as smile
from integrations.smile.errors import (
    SmileAuthError,
    SmileBadResponse,
    SmileError,
    SmileNotConnected,
    error_text,
)
from integrations.smile.types import Quarantined

from ..models import Audience, LoyaltyList, RefreshRequest, SmileCustomer, SyncRun, SyncState, VipTier
from .publish import publish_lists
from .record import quarantine_record, refresh_failure_record, refresh_record, refresh_run
from .snapshot import index_emails, tombstone_customers, upsert_customers
from .state import seq_next, state_ensure, state_lock
from .tiers import tier_names, tiers_apply, tiers_fetch

logger = logging.getLogger(__name__)

TASK = "loyalty_lists.lists.tasks.customer_refresh_task"
BATCH = 100  # customers published together
BULK_MIN = 25  # from this many waiting customers on, fetch them by pages of recently updated ones
BULK_OVERLAP = timedelta(seconds=5)  # Smile's updated_at_min may be exclusive, clocks may drift
REFRESH_CLAIM_TTL = timedelta(minutes=5)  # a claim older than this belongs to a dead worker
MAX_ATTEMPTS = 5  # then the request is dropped: the next delta cycle covers the customer


# --- intake -----------------------------------------------------------------------------------------
def refresh_request(
    *, merchant_id: int, smile_customer_id: int, smile_updated_at: datetime | None = None, send: bool = True
) -> str:
    """Record a webhook's customer: ``"known"`` (duplicate / out of order: nothing to do),
    ``"coalesced"`` (joins a waiting request) or ``"queued"``."""
    if (
        smile_updated_at is not None
        and SmileCustomer.objects.filter(
            merchant_id=merchant_id, smile_id=smile_customer_id, smile_updated_at__gte=smile_updated_at
        ).exists()
    ):
        return "known"
    now = timezone.now()
    changes = {"deliveries": F("deliveries") + 1, "received_at": now}
    if smile_updated_at is not None:
        changes["smile_updated_at"] = Greatest(
            Coalesce(F("smile_updated_at"), Value(smile_updated_at)), Value(smile_updated_at)
        )
    waiting = RefreshRequest.objects.filter(merchant_id=merchant_id, smile_customer_id=smile_customer_id)
    result = "coalesced"
    if not waiting.update(**changes):
        try:
            with transaction.atomic():
                RefreshRequest.objects.create(
                    merchant_id=merchant_id,
                    smile_customer_id=smile_customer_id,
                    smile_updated_at=smile_updated_at,
                    received_at=now,
                )
            result = "queued"
        except IntegrityError:  # the same customer's webhook raced this one
            waiting.update(**changes)
    if send:
        refresh_send(merchant_id)
    return result


def refresh_send(merchant_id: int, *, now: datetime | None = None) -> bool:
    """Send the merchant's refresh task unless one is queued or draining; True when sent."""
    now = now or timezone.now()
    state_ensure(merchant_id)
    claimed = (
        SyncState.objects.filter(merchant_id=merchant_id)
        .filter(Q(refresh_queued_at__isnull=True) | Q(refresh_queued_at__lt=now - REFRESH_CLAIM_TTL))
        .update(refresh_queued_at=now)
    )
    if claimed:
        # save=False: django-q2 would store each success (locking and reading its 500 stored ones):
        # ~20 ms a task, measured by the fleet benchmark (lists/sync/dispatch.py). Failures are stored.
        async_task(TASK, merchant_id, task_name=f"refresh merchant {merchant_id}", save=False)
    return bool(claimed)


def refresh_sweep(*, now: datetime) -> int:
    """Re-send the refresh task of merchants whose requests wait with no task alive."""
    waiting = (
        RefreshRequest.objects.filter(received_at__lt=now - timedelta(minutes=1))
        .filter(Q(claimed_by="") | Q(claimed_at__lt=now - REFRESH_CLAIM_TTL))
        .values_list("merchant_id", flat=True)
        .distinct()
    )
    return sum(refresh_send(merchant_id, now=now) for merchant_id in waiting)


# --- drain ------------------------------------------------------------------------------------------
def refresh_drain(*, merchant_id: int, client=None, batch: int = BATCH) -> SyncRun | None:
    """Refresh every waiting customer of the merchant; returns the last run recorded (None: nothing
    waited). A Smile failure stops the drain (the requests wait for the next webhook or the sweep)."""
    worker = uuid.uuid4().hex
    run = None
    while True:
        claimed = _claim(merchant_id, worker, batch)
        if not claimed:
            # Let the next webhook send a task, then look once more: a request that arrived while the
            # flag was still set (and so sent no task) is taken here.
            SyncState.objects.filter(merchant_id=merchant_id).update(refresh_queued_at=None)
            claimed = _claim(merchant_id, worker, batch)
            if not claimed:
                return run
            SyncState.objects.filter(merchant_id=merchant_id).update(refresh_queued_at=timezone.now())
        try:
            if client is None:
                merchant = SyncState.objects.select_related("merchant").get(merchant_id=merchant_id).merchant
                with smile.client_for_merchant(
                    merchant, correlation_id=f"refresh-{merchant_id}-{worker[:8]}"
                ) as c:
                    run = _refresh(merchant_id, claimed, c)
            else:
                run = _refresh(merchant_id, claimed, client)
        except SmileError as exc:
            _release(claimed, failed=True)
            run = refresh_failure_record(merchant_id=merchant_id, now=timezone.now(), error=error_text(exc))
            logger.warning("Webhook refresh of merchant %s failed: %s", merchant_id, exc)
            if isinstance(exc, SmileAuthError | SmileNotConnected):
                RefreshRequest.objects.filter(merchant_id=merchant_id).delete()  # a cycle catches up later
            SyncState.objects.filter(merchant_id=merchant_id).update(refresh_queued_at=None)
            return run


def _claim(merchant_id: int, worker: str, limit: int) -> list[RefreshRequest]:
    now = timezone.now()
    free = Q(claimed_by="") | Q(claimed_at__lt=now - REFRESH_CLAIM_TTL)
    waiting = RefreshRequest.objects.filter(merchant_id=merchant_id).filter(free)
    ids = list(waiting.order_by("received_at", "pk").values_list("pk", flat=True)[:limit])
    if not ids:
        return []
    waiting.filter(pk__in=ids).update(claimed_by=worker, claimed_at=now)
    return list(RefreshRequest.objects.filter(pk__in=ids, claimed_by=worker))


def _release(claimed: list[RefreshRequest], *, failed: bool) -> None:
    """Done: delete the requests no webhook added to meanwhile; release the others (and all on failure)."""
    for request in claimed:
        rows = RefreshRequest.objects.filter(pk=request.pk, claimed_by=request.claimed_by)
        if failed:
            if request.attempts + 1 >= MAX_ATTEMPTS:
                rows.delete()
            else:
                rows.update(claimed_by="", claimed_at=None, attempts=F("attempts") + 1)
        elif not rows.filter(deliveries=request.deliveries).delete()[0]:
            rows.update(claimed_by="", claimed_at=None)  # changed again while we fetched: once more


def _fetch(client, claimed: list[RefreshRequest]):
    """``(customers, gone ids, pages)``: the claimed customers as Smile has them now (plus whoever else
    the bulk pages showed)."""
    wanted = {r.smile_customer_id for r in claimed}
    found: dict = {}
    pages = 0
    stamps = [r.smile_updated_at for r in claimed]
    if len(wanted) >= BULK_MIN and all(stamps):
        budget = 2 + 2 * math.ceil(len(wanted) / 250)  # a burst, not a walk of the whole program
        for page in client.iter_customer_pages(updated_at_min=min(stamps) - BULK_OVERLAP):
            pages += 1
            for customer in page.customers:
                found[customer.id] = customer
            wanted -= {q.id for q in page.quarantined}  # malformed in the page: asked for one by one below
            if pages >= budget:
                break
    gone, quarantined = [], []
    for smile_id in sorted(wanted - set(found)):
        pages += 1
        try:
            customer = client.get_customer(smile_id)
        except SmileBadResponse as exc:  # one malformed customer: set aside, the others go on
            quarantined.append(Quarantined(smile_id, exc.message))
            continue
        if customer is None:
            gone.append(smile_id)
        else:
            found[smile_id] = customer
    return list(found.values()), gone, pages, quarantined


def _tiers_needed(merchant_id: int, customers, gone: list[int]) -> bool:
    """Would this batch take someone out of a live tier list, or name a tier we do not know?"""
    tier_lists = set(
        LoyaltyList.objects.filter(
            merchant_id=merchant_id, audience=Audience.VIP_TIER, stale_since__isnull=True
        ).values_list("vip_tier_id", flat=True)
    )
    known = set(
        VipTier.objects.filter(merchant_id=merchant_id, exists_in_smile=True).values_list(
            "smile_id", flat=True
        )
    )
    new_tier = {c.id: c.vip_tier_id for c in customers}
    for smile_id in gone:
        new_tier[smile_id] = None
    if any(tier is not None and tier not in known for tier in new_tier.values()):
        return True
    if not tier_lists:
        return False
    old_tier = SmileCustomer.objects.filter(
        merchant_id=merchant_id, smile_id__in=list(new_tier), vip_tier_id__in=tier_lists
    ).values_list("smile_id", "vip_tier_id")
    return any(new_tier[smile_id] != tier for smile_id, tier in old_tier)


def _refresh(merchant_id: int, claimed: list[RefreshRequest], client) -> SyncRun:
    customers, gone, calls, quarantined = _fetch(client, claimed)
    tiers = None
    if _tiers_needed(merchant_id, customers, gone):
        tiers = tiers_fetch(client, merchant=merchant_id)
        calls += 1
    seen_at = timezone.now()
    ids = tuple(sorted({c.id for c in customers} | set(gone)))
    with transaction.atomic():
        state_lock(merchant_id)
        seq = seq_next(merchant_id)
        staled = ()
        if tiers is not None:
            staled = tuple(tiers_apply(merchant_id, tiers, now=seen_at, seq=seq).lists_staled)
        upsert_customers(
            merchant_id, [(c, seen_at) for c in customers], seq=seq, tier_names=tier_names(merchant_id)
        )
        gone_count = tombstone_customers(merchant_id, gone, now=seen_at, seq=seq)
        index_emails(merchant_id, ids)
        run = refresh_run(merchant_id=merchant_id, now=seen_at)
        outcomes = publish_lists(
            merchant_id=merchant_id, run=run, now=seen_at, published_seq=seq, customers=ids, staled=staled
        )
        refresh_record(run, outcomes, now=seen_at, fetched=len(customers), gone=gone_count, calls=calls)
        if quarantined:
            quarantine_record(run, quarantined)
        _release(claimed, failed=False)
    logger.info(
        "Webhook refresh of merchant %s: %s customers (%s gone) in %s Smile calls -> run %s",
        merchant_id,
        len(customers),
        gone_count,
        calls,
        run.pk,
    )
    return run
