"""Writes of the lists domain. Views, the API, admin actions, commands and tasks call these."""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from integrations.smile import services as smile
from integrations.smile.errors import SmileError

from .events import list_event_record
from .models import Audience, ListChange, ListRunResult, LoyaltyList, SyncRun, VipTier
from .sync import dispatch, queue, refresh, slots
from .sync.cycle import cycle_run
from .sync.publish import ALL, publish_list
from .sync.state import seq_next, state_ensure, state_lock
from .sync.tiers import TierChanges, tiers_apply, tiers_fetch

logger = logging.getLogger(__name__)


# --- lists ------------------------------------------------------------------------------------------
def _tier_exists(merchant, vip_tier_id: int) -> bool:
    return VipTier.objects.filter(merchant=merchant, smile_id=vip_tier_id, exists_in_smile=True).exists()


def _validate_audience(*, merchant, audience: str, vip_tier_id: int | None) -> None:
    if audience not in Audience.values:
        raise ValidationError({"audience": f"Unknown audience {audience!r}."})
    if audience == Audience.VIP_TIER:
        if vip_tier_id is None:
            raise ValidationError({"vip_tier_id": "Choose the VIP tier of this list."})
        if not _tier_exists(merchant, vip_tier_id):
            # Not among the tiers of the last sync: ask Smile now (a tier created since, or no sync yet),
            # as the list form does.
            try:
                vip_tiers_refresh(merchant=merchant)
            except SmileError as exc:
                raise ValidationError(
                    {"vip_tier_id": f"Could not check the VIP tier with Smile: {exc}"}
                ) from None
            if not _tier_exists(merchant, vip_tier_id):
                raise ValidationError({"vip_tier_id": "That VIP tier does not exist in Smile (any more)."})
    elif vip_tier_id is not None:
        raise ValidationError({"vip_tier_id": "Only VIP tier lists have a tier."})


def list_create(
    *,
    merchant,
    name: str,
    audience: str,
    vip_tier_id: int | None = None,
    created_by=None,
    enqueue: bool = True,
) -> LoyaltyList:
    """Create a list; it is filled by the next cycle (enqueued now unless ``enqueue=False``)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A list needs a name."})
    _validate_audience(merchant=merchant, audience=audience, vip_tier_id=vip_tier_id)
    with transaction.atomic():
        lst = LoyaltyList.objects.create(
            merchant=merchant, name=name, audience=audience, vip_tier_id=vip_tier_id, created_by=created_by
        )
        if enqueue:
            sync_enqueue(merchant=merchant)
    return lst


def list_update(
    *,
    list: LoyaltyList,
    name: str | None = None,
    audience: str | None = None,
    vip_tier_id: int | None = None,
    enqueue: bool = True,
) -> LoyaltyList:
    """Rename a list or change its rule (``audience`` and/or ``vip_tier_id``). A new rule is a deliberate
    edit: the next cycle recomputes the list whole without the removal guardrail (its run result says
    "rule changed"), and a result held for approval under the old rule is superseded."""
    lst = list
    fields = ["updated_at"]
    if name is not None:
        if not name.strip():
            raise ValidationError({"name": "A list needs a name."})
        lst.name = name.strip()
        fields.append("name")
    new_audience = audience or lst.audience
    new_tier = lst.vip_tier_id if audience is None and vip_tier_id is None else vip_tier_id
    rule_changed = (new_audience, new_tier) != (lst.audience, lst.vip_tier_id)
    if rule_changed:
        _validate_audience(merchant=lst.merchant, audience=new_audience, vip_tier_id=new_tier)
        lst.audience, lst.vip_tier_id = new_audience, new_tier
        lst.published_seq = 0
        lst.rule_changed_at = timezone.now()
        lst.stale_since, lst.stale_reason = None, ""
        fields += [
            "audience",
            "vip_tier_id",
            "published_seq",
            "rule_changed_at",
            "stale_since",
            "stale_reason",
        ]
    with transaction.atomic():
        lst.save(update_fields=fields)
        if rule_changed:  # a held result was computed under the old rule: it no longer applies
            ListRunResult.objects.filter(list=lst, decision=ListRunResult.Decision.PENDING).update(
                decision=ListRunResult.Decision.SUPERSEDED, decided_at=timezone.now()
            )
        if rule_changed and enqueue:
            sync_enqueue(merchant=lst.merchant)
    return lst


def list_delete(*, list: LoyaltyList) -> None:
    """Delete a list with its items and history; the change feed says ``list_deleted``."""
    state_ensure(list.merchant_id)
    with transaction.atomic():
        state_lock(list.merchant_id)  # the feed's order (``ListChange``)
        list_event_record(
            merchant_id=list.merchant_id,
            list_id=None,
            kind=ListChange.Kind.LIST_DELETED,
            now=timezone.now(),
            deleted_list_id=list.pk,
            name=list.name,
        )
        list.delete()


# --- sync -------------------------------------------------------------------------------------------
def sync_enqueue(*, merchant, full: bool = False) -> tuple[SyncRun, bool]:
    """*Sync now*: queue a cycle for ``merchant`` — or join the one already queued (a full request
    makes it a full). Returns ``(queued run, created)``; its task is sent once the caller's
    transaction commits. The run waits (queued, never dropped) while another cycle holds the lease."""
    kind = SyncRun.Kind.FULL if full else SyncRun.Kind.DELTA
    run, created = queue.cycle_request(merchant_id=merchant.pk, kind=kind)
    if created:
        transaction.on_commit(lambda: queue.cycle_send(merchant.pk))
    return run, created


def sync_cycle_run(
    *, merchant_id: int, kind: str = SyncRun.Kind.DELTA, client=None, progress=None
) -> SyncRun | None:
    """Run one cycle in this process; None when another cycle of the merchant holds the lease (the
    request then waits as the merchant's queued run, which that cycle sends when it ends)."""
    return cycle_run(merchant_id=merchant_id, kind=kind, client=client, progress=progress)


def sync_queued_run(*, merchant_id: int) -> SyncRun | None:
    """The task's side: run the merchant's queued cycle if it holds the lease (else leave it queued)."""
    return cycle_run(merchant_id=merchant_id, kind=None, queued_only=True)


def sync_sweep() -> dict[str, int]:
    """Repair what dead workers left: expired leases, lost tasks of queued cycles and refreshes."""
    return queue.sync_sweep()


def sync_fanout(*, kind: str = SyncRun.Kind.DELTA) -> int:
    """Queue a cycle of ``kind`` for every connected merchant (the schedules); returns how many tasks
    were sent. A merchant whose cycle is still queued gets no second one (a full upgrades it)."""
    return queue.cycles_fanout(kind=kind)


def sync_fulls_due(*, now=None) -> int:
    """Queue the daily full reconciles whose slot has come (the schedule, every few minutes)."""
    return slots.fulls_due_queue(now=now)


def sync_forward(*, merchant_id: int) -> bool:
    """A task on the default queue whose queued cycle is now a full walk sends it to the full-walk
    queue instead (True); see ``sync/dispatch.py``."""
    return dispatch.cycle_forward(merchant_id)


def customer_refresh_request(*, merchant_id: int, smile_customer_id: int, smile_updated_at=None) -> str:
    """A webhook said this customer changed: ``"queued"``, ``"coalesced"`` or ``"known"`` (nothing to do)."""
    return refresh.refresh_request(
        merchant_id=merchant_id, smile_customer_id=smile_customer_id, smile_updated_at=smile_updated_at
    )


def customer_refresh_drain(*, merchant_id: int, client=None) -> SyncRun | None:
    """Refresh every customer waiting for the merchant (the refresh task)."""
    return refresh.refresh_drain(merchant_id=merchant_id, client=client)


def customer_refresh(*, merchant_id: int, smile_customer_id: int, client=None) -> SyncRun | None:
    """Refresh one customer now, in this process (tests, drills): request, then drain."""
    state_ensure(merchant_id)
    refresh.refresh_request(merchant_id=merchant_id, smile_customer_id=smile_customer_id, send=False)
    return refresh.refresh_drain(merchant_id=merchant_id, client=client)


def vip_tiers_refresh(*, merchant, client=None) -> TierChanges:
    """Fetch the tier list now (e.g. right after connecting, for the list form) and apply it. A program
    without VIP tiers for us (403/404) gives none: ``TierChanges.unavailable`` says why."""
    if client is None:
        with smile.client_for_merchant(merchant) as real_client:
            tiers = tiers_fetch(real_client, merchant=merchant)
    else:
        tiers = tiers_fetch(client, merchant=merchant)
    state_ensure(merchant.pk)
    with transaction.atomic():
        state_lock(merchant.pk)
        changes = tiers_apply(merchant.pk, tiers, now=timezone.now(), seq=seq_next(merchant.pk))
    changes.unavailable = tiers.unavailable
    return changes


# --- held runs --------------------------------------------------------------------------------------
def _pending_hold(result: ListRunResult) -> ListRunResult:
    locked = ListRunResult.objects.select_for_update().select_related("list", "run").get(pk=result.pk)
    if locked.decision != ListRunResult.Decision.PENDING:
        raise ValidationError(f"This held run was already {locked.get_decision_display().lower()}.")
    return locked


def held_run_approve(*, result: ListRunResult, user=None) -> ListRunResult:
    """Apply a held list: publish it from the current snapshot, removals included."""
    state_ensure(result.merchant_id)
    with transaction.atomic():
        state = state_lock(result.merchant_id)
        held = _pending_hold(result)
        lst = held.list
        if lst.is_stale:
            raise ValidationError("The list is stale (its VIP tier vanished); it cannot be published.")
        now = timezone.now()
        outcome = publish_list(lst, ALL, run=held.run, now=now, guardrail=False)
        lst.published_seq = state.change_seq
        lst.last_published_at = now
        lst.guardrail_since = now  # approved removals are deliberate: the window starts again
        lst.item_count = outcome.list_size + outcome.added - outcome.removed
        lst.save(
            update_fields=[
                "published_seq",
                "last_published_at",
                "guardrail_since",
                "item_count",
                "updated_at",
            ]
        )
        ListRunResult.objects.filter(list=lst, decision=ListRunResult.Decision.PENDING).exclude(
            pk=held.pk
        ).update(decision=ListRunResult.Decision.SUPERSEDED, decided_at=now)
        held.decision = ListRunResult.Decision.APPROVED
        held.decided_by, held.decided_at = user, now
        held.added, held.removed, held.changed = outcome.added, outcome.removed, outcome.changed
        held.save(update_fields=["decision", "decided_by", "decided_at", "added", "removed", "changed"])
        list_event_record(
            merchant_id=lst.merchant_id,
            list_id=lst.pk,
            kind=ListChange.Kind.LIST_APPROVED,
            now=now,
            run_id=held.run_id,
            added=outcome.added,
            removed=outcome.removed,
            changed=outcome.changed,
        )
    logger.info("Held list %s of run %s approved: -%s items", lst.pk, held.run_id, outcome.removed)
    return held


def held_run_discard(*, result: ListRunResult, user=None) -> ListRunResult:
    """Drop a held list's changes; the list stays as it is (the next cycle re-evaluates it)."""
    state_ensure(result.merchant_id)
    with transaction.atomic():
        state_lock(result.merchant_id)  # the feed's order (``ListChange``)
        held = _pending_hold(result)
        held.decision = ListRunResult.Decision.DISCARDED
        held.decided_by, held.decided_at = user, timezone.now()
        held.save(update_fields=["decision", "decided_by", "decided_at"])
        list_event_record(
            merchant_id=held.merchant_id,
            list_id=held.list_id,
            kind=ListChange.Kind.LIST_DISCARDED,
            now=held.decided_at,
            run_id=held.run_id,
            removed=held.removed,
        )
    logger.info("Held list %s of run %s discarded", held.list_id, held.run_id)
    return held
