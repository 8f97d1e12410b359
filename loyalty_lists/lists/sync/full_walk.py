"""The full walk of a cycle: every customer Smile has, checkpointed so a killed worker resumes it.

* **Chains.** The documented way first: one chain per state, with Smile's own cursors. Faster walks
  use cursors we make, which no Smile document promises, so only on a connection where the
  ``id_range_cursors`` capability is verified (``integrations/smile/capabilities.py``: probed before a
  full walk when unknown, re-probed ``SMILE_CAPABILITY_RECHECK_DAYS`` after it was found unsupported):
  then one chain per id range holding an equal share of the customers the snapshot knows
  (``SYNC_FULL_WALK_CHAINS``), or, on the first sync, per state with the largest split as the others
  finish. Any failure of a made-up cursor during the walk (``CursorUnsupported``) marks the capability
  unsupported and the walk goes on the documented way, with a fresh checkpoint that later cycles can
  resume — never one that keeps re-trying made-up cursors.
* **Checkpoint** (``SyncState.full_walk``): every commit stores the chains' cursors with its rows, and a
  chain asks for its next page only after that commit, so a crash refetches at most one page a chain.
* **Catch-up.** When the walk completes, one delta pass from the walk's start catches customers that
  changed after the walk had passed them (during a long walk, or between a crash and the resume).
* **Gone.** Then live rows nobody saw since the walk started are gone from Smile (re-checked one by one
  with ``get_customer`` when there are few — a customer who changed state between two parallel chains
  is found again) and are tombstoned; they leave every list at the publish. (Quarantined records count
  as seen; when one named no id, nobody is marked gone this time.)
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.smile import capabilities
from integrations.smile import services as smile
from integrations.smile.selectors import connection_capability

from ..models import SmileCustomer, SyncRun, SyncState
from .fetch import PAGE_LIMIT, SAFETY_OVERLAP, Batch, Chain, CursorUnsupported, walk
from .snapshot import tombstone_customers, unseen_since, upsert_customers
from .sql import analyze
from .state import seq_next
from .tiers import tier_names

logger = logging.getLogger(__name__)

FULL_WALK_STATES = ("member", "candidate", "disabled")
ID_RANGE_MIN_CUSTOMERS = 5000  # smaller programs are walked per state (id ranges would gain little)
GONE_VERIFY_MAX = 100  # re-check at most this many "unseen" customers one by one


def id_ranges(merchant_id: int, parts: int) -> dict[str, list] | None:
    """``parts`` unfiltered chains over id ranges holding equally many of the customers the snapshot
    knows, highest first, as ``{key: [state, id_below, stop_below]}`` (None: open-ended). None when the
    snapshot is too small to tell (the first sync) or one chain is asked for."""
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


def unfinished_chains(checkpoint: dict) -> list[Chain]:
    """The chains of a full walk that are not done yet (as the checkpoint has them, splits included)."""
    cursors, done = checkpoint["cursors"], checkpoint["done"]
    return [
        Chain(key, state, start_cursor=cursors.get(key), id_below=high, stop_below=low)
        for key, (state, high, low) in checkpoint["chains"].items()
        if key not in done
    ]


def id_ranges_allowed(merchant, client) -> tuple[bool, capabilities.Probe | None]:
    """May this walk make its own cursors? The connection's verdict, or a probe when there is none (or
    an "unsupported" one is old enough to ask again): ``(allowed, the probe if one ran)``."""
    known = connection_capability(merchant=merchant, name=capabilities.ID_RANGE)
    if known.get("verdict") == capabilities.VERIFIED:
        return True, None
    if known.get("verdict") == capabilities.UNSUPPORTED:
        asked = parse_datetime(known.get("at") or "")
        recheck = timedelta(days=settings.SMILE_CAPABILITY_RECHECK_DAYS)
        if asked is not None and timezone.now() - asked < recheck:
            return False, None
    probe = capabilities.id_range_probe(client)
    if probe.verdict != capabilities.UNKNOWN:
        smile.connection_capability_record(
            merchant=merchant, name=capabilities.ID_RANGE, verdict=probe.verdict, reason=probe.reason
        )
    logger.info("Made-up cursors on this connection: %s (%s)", probe.verdict, probe.reason)
    return probe.verdict == capabilities.VERIFIED, probe


def _made_up(checkpoint: dict) -> bool:
    """Does the checkpoint hold chains that start from a cursor we made?"""
    return any(high is not None for _state, high, _low in checkpoint.get("chains", {}).values())


def full_walk(cycle, client, run: SyncRun, state: SyncState) -> datetime:
    """Walk every customer into the snapshot (resuming a checkpointed walk) and tombstone the gone ones;
    returns the watermark (when the catch-up pass started). ``cycle.flush(run, batch, checkpoint)``
    writes a batch of rows with the checkpoint."""
    merchant_id = state.merchant_id
    made_up_ok, probe = id_ranges_allowed(state.merchant, client)
    whole = probe is not None and probe.page is not None and probe.page.next_cursor is None
    if probe is not None and probe.page is not None:  # Smile's own first page: real data, stored
        now = timezone.now()
        page = Batch([(c, now) for c in probe.page.customers], {}, 1, probe.page.quarantined)
        cycle.flush(run, page, counted=whole)  # its customers count once: the chains fetch them again
    checkpoint = state.full_walk
    if checkpoint and not made_up_ok and _made_up(checkpoint):
        logger.info("The checkpointed walk used made-up cursors, no longer allowed: starting it over")
        checkpoint = None
    if checkpoint:
        run.resumed = True
        run.save(update_fields=["resumed"])
        logger.info("Resuming the full walk started by run %s", checkpoint.get("run_id"))
        checkpoint.setdefault("chains", state_chains())  # written before chains were recorded
    else:
        parts = settings.SYNC_FULL_WALK_CHAINS if made_up_ok else 1
        chains = {} if whole else (id_ranges(merchant_id, parts) or state_chains())
        checkpoint = {  # (no chains: the probe's page held the whole program)
            "started_at": run.started_at.isoformat(),
            "run_id": run.pk,
            "chains": chains,
            "cursors": {},
            "done": [],
        }
        SyncState.objects.filter(merchant_id=merchant_id).update(full_walk=checkpoint)
    walk_started_at = parse_datetime(checkpoint["started_at"])

    def flush(batch: Batch):
        for key, (cursor, done) in batch.position.items():
            checkpoint["cursors"][key] = cursor
            if done and key not in checkpoint["done"]:
                checkpoint["done"].append(key)
        cycle.flush(run, batch, checkpoint=checkpoint)

    def on_split(chain, stops):  # saved with the next commit, before the new chain's first page
        for key, stop_below in stops.items():
            checkpoint["chains"][key][2] = stop_below
        checkpoint["chains"][chain.key] = [chain.state, chain.id_below, chain.stop_below]

    try:
        walk(
            client,
            unfinished_chains(checkpoint),
            flush,
            spread=settings.SYNC_FULL_WALK_CHAINS if made_up_ok else 0,
            on_split=on_split,
            keys_taken=list(checkpoint["chains"]),
        )
    except CursorUnsupported as exc:
        # Rows already stored stay (upserts are idempotent); the walk starts over the documented way.
        logger.warning("A made-up cursor failed (%s); walking with Smile's own cursors, per state", exc)
        smile.connection_capability_record(
            merchant=state.merchant,
            name=capabilities.ID_RANGE,
            verdict=capabilities.UNSUPPORTED,
            reason=str(exc),
        )
        checkpoint.update(chains=state_chains(), cursors={}, done=[])
        SyncState.objects.filter(merchant_id=merchant_id).update(full_walk=checkpoint)
        walk(client, unfinished_chains(checkpoint), flush)
    caught_up_at = timezone.now()
    since = walk_started_at - SAFETY_OVERLAP
    walk(
        client,
        [Chain("all", None, updated_at_min=since)],
        lambda batch: cycle.flush(run, batch, checkpoint=checkpoint),
    )
    _gone_mark(merchant_id, client, run, walk_started_at)
    analyze(SmileCustomer)  # the publish's plans must see the snapshot's real size
    return caught_up_at


def _gone_mark(merchant_id: int, client, run: SyncRun, walk_started_at: datetime) -> None:
    """The walk completed: whoever it (or a webhook since) did not see is gone from Smile — unless a
    quarantined record named no id (it could be anyone: nobody is marked gone this time)."""
    if getattr(run, "quarantine_unknown_ids", False):
        logger.warning("A malformed customer without an id: no customer is marked gone by this walk")
        SyncState.objects.filter(merchant_id=merchant_id).update(full_walk=None, full_due=False)
        return
    unseen = unseen_since(merchant_id, walk_started_at)
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
        seq = seq_next(merchant_id)
        upsert_customers(merchant_id, found, seq=seq, tier_names=tier_names(merchant_id))
        if set_based:
            gone = unseen_since(merchant_id, walk_started_at).update(gone_at=now, change_seq=seq)
        else:
            gone = tombstone_customers(merchant_id, gone_ids, now=now, seq=seq)
        SyncState.objects.filter(merchant_id=merchant_id).update(full_walk=None, full_due=False)
        run.customers_gone = gone
        run.save(update_fields=["customers_gone"])
    if gone:
        logger.info("Full walk: %s customers are gone from Smile", gone)
