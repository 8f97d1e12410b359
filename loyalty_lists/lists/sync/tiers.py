"""VIP tiers: apply a tier list fetched from Smile to ``VipTier``, the snapshot's tier names and list
staleness — the only place a list becomes stale or recovers, whichever path fetched the tiers (a cycle,
a webhook refresh that saw a tier list's member leave, the list form's live tiers).

Runs inside the publish transaction (or ``vip_tiers_refresh``), after ``seq_next``, with the state row
locked. A tier list fetched before the last one applied (``SyncState.tiers_fetched_at``) is ignored: a
long cycle that fetched its tiers before a webhook refresh learnt that a tier vanished must not bring
the tier back. Then:
* new tiers are created; renamed tiers get their new name; tiers missing from Smile's list are kept
  with ``exists_in_smile=False``;
* the snapshot's ``vip_tier_name`` follows the tier list of this cycle (NULL for a tier Smile no longer
  lists); rows whose name changes get the new change number, so lists re-examine just them;
* a tier list whose tier vanished becomes **stale** (frozen, reason shown, skipped by every publish);
  a stale list whose tier is back is un-staled and recomputed whole at the next publish. Both are
  list events of the change feed (``events.py``), in the same transaction. "Back" means
  the same Smile id, or — since Smile gives a re-created tier a new id — exactly one current tier with
  the vanished tier's name that appeared after the list went stale (the list then follows the new id;
  a namesake that existed beside the vanished tier is not its return).
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from integrations.smile import capabilities
from integrations.smile import services as smile
from integrations.smile.errors import SmileNotFound, SmileScopeError
from integrations.smile.types import VipTierData

from ..events import list_event_record
from ..models import Audience, ListChange, LoyaltyList, SmileCustomer, SyncState, VipTier

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TierList:
    """A merchant's VIP tiers as Smile gave them at ``fetched_at``; ``unavailable`` says why there are
    none to read (``GET /vip_tiers`` answered 403 or 404: the program has no VIP for us — a paid-plan
    feature), which makes every tier list stale with that reason instead of failing the sync."""

    tiers: list[VipTierData]
    fetched_at: datetime
    unavailable: str = ""


def tiers_fetch(client, *, merchant=None) -> TierList:
    """``GET /vip_tiers``, with 403/404 meaning "no VIP tiers" (recorded on the merchant's connection as
    the ``vip_tiers`` capability). Other failures raise."""
    fetched_at = timezone.now()
    try:
        tiers = TierList(client.list_vip_tiers(), fetched_at)
    except (SmileScopeError, SmileNotFound) as exc:
        tiers = TierList([], fetched_at, unavailable=str(exc))
    if merchant is not None:
        verdict = capabilities.UNAVAILABLE if tiers.unavailable else capabilities.AVAILABLE
        known = smile.connection_capability_verdict(
            merchant=merchant, name=capabilities.VIP_TIERS, client=client
        )
        if known != verdict:
            smile.connection_capability_record(
                merchant=merchant,
                name=capabilities.VIP_TIERS,
                verdict=verdict,
                reason=tiers.unavailable or f"{len(tiers.tiers)} tiers",
            )
    return tiers


@dataclass
class TierChanges:
    created: list[int] = field(default_factory=list)
    renamed: list[int] = field(default_factory=list)
    vanished: list[int] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)
    lists_staled: list[int] = field(default_factory=list)
    lists_recovered: list[int] = field(default_factory=list)
    outdated: bool = False  # an older tier list than the last one applied: ignored
    unavailable: str = ""  # Smile gives no VIP tiers to read (``TierList.unavailable``)


def tiers_apply(merchant_id: int, tier_list: TierList, *, now: datetime, seq: int) -> TierChanges:
    """Apply a tier list fetched from Smile; call with the state row locked."""
    tiers, fetched_at = tier_list.tiers, tier_list.fetched_at
    changes = TierChanges()
    state = SyncState.objects.filter(merchant_id=merchant_id)
    if state.filter(tiers_fetched_at__gt=fetched_at).exists():
        changes.outdated = True
        logger.info("Merchant %s: a newer tier list was applied already; ignoring this one", merchant_id)
        return changes
    state.update(tiers_fetched_at=fetched_at)
    existing = {t.smile_id: t for t in VipTier.objects.filter(merchant_id=merchant_id)}
    fetched = {t.id: t for t in tiers}
    for tier in tiers:
        row = existing.get(tier.id)
        if row is None:
            VipTier.objects.create(
                merchant_id=merchant_id,
                smile_id=tier.id,
                name=tier.name,
                milestone=tier.milestone,
                exists_in_smile=True,
                first_seen_at=now,
                last_seen_at=now,
            )
            changes.created.append(tier.id)
            continue
        if row.name != tier.name:
            changes.renamed.append(tier.id)
        if not row.exists_in_smile:
            changes.returned.append(tier.id)
        row.name, row.milestone, row.exists_in_smile, row.last_seen_at = tier.name, tier.milestone, True, now
        row.save(update_fields=["name", "milestone", "exists_in_smile", "last_seen_at"])
    for smile_id, row in existing.items():
        if smile_id not in fetched and row.exists_in_smile:
            row.exists_in_smile = False
            row.save(update_fields=["exists_in_smile"])
            changes.vanished.append(smile_id)

    # Snapshot rows always carry VipTier's names (cycles and webhooks write them from VipTier), so
    # only the tiers that changed here need their customers' names changed.
    customers = SmileCustomer.objects.filter(merchant_id=merchant_id)
    for tier_id in changes.created + changes.renamed + changes.returned:
        customers.filter(vip_tier_id=tier_id).exclude(vip_tier_name=fetched[tier_id].name).update(
            vip_tier_name=fetched[tier_id].name, change_seq=seq
        )
    if changes.vanished:
        customers.filter(vip_tier_id__in=changes.vanished).exclude(vip_tier_name=None).update(
            vip_tier_name=None, change_seq=seq
        )
        # Smile moves a deleted tier's customers; whether it bumps their updated_at (what deltas see) is
        # not documented: the next cycle walks everyone.
        state.update(full_due=True)

    tier_lists = LoyaltyList.objects.filter(merchant_id=merchant_id, audience=Audience.VIP_TIER)
    for lst in tier_lists.filter(stale_since__isnull=True).exclude(vip_tier_id__in=list(fetched)):
        known = existing.get(lst.vip_tier_id)
        label = f"“{known.name}” (#{lst.vip_tier_id})" if known else f"#{lst.vip_tier_id}"
        lst.stale_since = now
        if tier_list.unavailable:
            lst.stale_reason = (
                f"Smile gives no access to its VIP tiers ({tier_list.unavailable})"[:400]
                + "; the list is frozen until it does."
            )
        else:
            lst.stale_reason = (
                f"The VIP tier {label} no longer exists in Smile; the list is frozen until it returns."
            )
        lst.save(update_fields=["stale_since", "stale_reason", "updated_at"])
        changes.lists_staled.append(lst.pk)
        list_event_record(
            merchant_id=merchant_id,
            list_id=lst.pk,
            kind=ListChange.Kind.LIST_STALE,
            now=now,
            reason=lst.stale_reason,
            vip_tier_id=lst.vip_tier_id,
        )
        logger.warning("List %s is stale: VIP tier %s vanished from Smile", lst.pk, lst.vip_tier_id)
    first_seen = dict(
        VipTier.objects.filter(merchant_id=merchant_id, smile_id__in=list(fetched)).values_list(
            "smile_id", "first_seen_at"
        )
    )
    current_by_name: dict[str, list[int]] = {}
    for tier in tiers:
        current_by_name.setdefault(_name_key(tier.name), []).append(tier.id)
    for lst in tier_lists.filter(stale_since__isnull=False):
        if lst.vip_tier_id in fetched:
            tier_id = lst.vip_tier_id
        else:
            # Smile gives a re-created tier a new id: a stale list follows the one current tier that
            # has its vanished tier's name (the merchant deleted and re-created "Gold").
            vanished = existing.get(lst.vip_tier_id)
            same_name = current_by_name.get(_name_key(vanished.name), []) if vanished else []
            new_since = [
                t for t in same_name if first_seen[t] is not None and first_seen[t] >= lst.stale_since
            ]
            if len(same_name) != 1 or not new_since:
                continue
            tier_id = same_name[0]
        logger.info("List %s recovered: VIP tier %s is in Smile (was %s)", lst.pk, tier_id, lst.vip_tier_id)
        lst.vip_tier_id = tier_id
        lst.stale_since = None
        lst.stale_reason = ""
        lst.published_seq = 0  # recompute the whole list at the next publish
        lst.save(update_fields=["vip_tier_id", "stale_since", "stale_reason", "published_seq", "updated_at"])
        changes.lists_recovered.append(lst.pk)
        list_event_record(
            merchant_id=merchant_id,
            list_id=lst.pk,
            kind=ListChange.Kind.LIST_RECOVERED,
            now=now,
            reason=f"The VIP tier #{tier_id} is in Smile again.",
            vip_tier_id=tier_id,
        )
    return changes


def tiers_unchanged(merchant_id: int, tier_list: TierList, lists) -> bool:
    """Whether applying ``tier_list`` would change nothing (but when tiers were last seen): the tiers
    stored are Smile's (ids, names, milestones), and among ``lists`` (the merchant's) no live tier
    list lacks its tier and no stale one has it back. One query."""
    fetched = {t.id: (t.name, t.milestone) for t in tier_list.tiers}
    stored = VipTier.objects.filter(merchant_id=merchant_id, exists_in_smile=True)
    if fetched != {t: (name, m) for t, name, m in stored.values_list("smile_id", "name", "milestone")}:
        return False
    return not any(
        lst.audience == Audience.VIP_TIER and (lst.vip_tier_id in fetched) == lst.is_stale for lst in lists
    )


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def tier_names(merchant_id: int) -> dict[int, str]:
    """The last good cycle's tier list, for writes outside a cycle (webhook refreshes)."""
    return dict(
        VipTier.objects.filter(merchant_id=merchant_id, exists_in_smile=True).values_list("smile_id", "name")
    )
