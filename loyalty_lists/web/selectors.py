"""Page-specific reads the lists domain's selectors do not cover: filtered item pages (with Previous),
the preview of an unsaved list, the member-count chart, held-run badges and a shopper's history.
Everything is scoped to one merchant (the list, or ``merchant=``)."""

from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.db.models import Q, QuerySet

from loyalty_lists.lists.membership import email_normalize, membership_q
from loyalty_lists.lists.models import (
    ListChange,
    ListItem,
    ListRunResult,
    LoyaltyList,
    SmileCustomer,
    VipTier,
)
from loyalty_lists.lists.selectors import customers_for_email

from .paging import Ordering, Page, keyset_page, ordered

builtin_list = list  # several functions take a ``list=`` keyword, like the domain's selectors

# --- list items ----------------------------------------------------------------------------------------
SORTS: dict[str, tuple[str, str, bool]] = {
    # name in the query string: (label, field, descending)
    "email": ("Email (A–Z)", "email", False),
    "-email": ("Email (Z–A)", "email", True),
    "-points": ("Points (highest first)", "points_balance", True),
    "points": ("Points (lowest first)", "points_balance", False),
    "-member_since": ("Member since (newest first)", "loyalty_member_since", True),
    "member_since": ("Member since (oldest first)", "loyalty_member_since", False),
}
DEFAULT_SORT = "email"
NULLABLE_FIELDS = {"loyalty_member_since"}
NO_TIER = "none"
TIERS_CARRIED_SECONDS = 24 * 3600
COUNT_CAP = 100_000  # a filtered count stops here ("more than 100,000"); see list_items_count


# Ties of the email (Smile allows duplicates) are broken by the Smile customer id, which is unique in a
# list: the page then reads the ``(list, email, smile_customer_id)`` index that lookups use too, and
# the publish maintains one email index, not two.
TIES = {"email": "smile_customer_id"}


def item_ordering(sort: str) -> Ordering:
    _label, field, descending = SORTS.get(sort, SORTS[DEFAULT_SORT])
    return Ordering(
        field, descending=descending, nullable=field in NULLABLE_FIELDS, tag=sort, tie=TIES.get(field, "id")
    )


def email_search_q(text: str) -> Q:
    """Emails containing ``text`` anywhere (emails are stored normalised, so is ``text``): ``LIKE '%text%'``.
    PostgreSQL answers it from the trigram index ``item_email_trgm`` (migration ``lists.0007_item_search``);
    SQLite has no such index and scans the list's email index (in the page's order, stopping at a full
    page; its count reads the whole index): about 0.3 s at 1M items (figure 7)."""
    return Q(email__contains=text)


def list_items_filtered(*, list: LoyaltyList, search: str = "", state: str = "", tier: str = "") -> QuerySet:
    items = ListItem.objects.filter(list=list)  # the list is already scoped to the merchant
    text = email_normalize(search)
    if text:
        items = items.filter(email_search_q(text))
    if state:
        items = items.filter(state=state)
    if tier == NO_TIER:
        items = items.filter(vip_tier_id__isnull=True)
    elif tier:
        items = items.filter(vip_tier_id=int(tier))
    return items


def list_items_page(
    *, list: LoyaltyList, sort: str = DEFAULT_SORT, after=None, before=None, limit: int = 50, **filters
) -> Page:
    """Raises ``paging.InvalidCursor`` for a bad cursor."""
    items = list_items_filtered(list=list, **filters)
    return keyset_page(items, item_ordering(sort), after=after, before=before, limit=limit)


def list_items_count(*, list: LoyaltyList, cap: int | None = None, **filters) -> tuple[int, bool]:
    """How many items the filters match: ``(count, capped)``. Unfiltered, the list's own ``item_count``
    (kept by every publish); filtered, one ``COUNT`` that stops after ``cap`` rows (``capped``: there are
    more).

    With a state or tier filter, SQLite counts reading the list in id order: without it SQLite picked another
    ``(list, ...)`` index and fetched every row in that index's (random) order — 2.4–3.4 s to count a filter
    over 1M items instead of 0.13–0.25 s (figure 7, ``bench/README.md``). An email search alone is counted
    from the email index (no row is read). PostgreSQL plans the count itself."""
    if not any(filters.values()):
        return list.item_count, False
    cap = COUNT_CAP if cap is None else cap
    matching = list_items_filtered(list=list, **filters)
    if connection.vendor == "sqlite" and (filters.get("state") or filters.get("tier")):
        matching = matching.order_by("id")
    count = matching[: cap + 1].count()
    return min(count, cap), count > cap


def list_items_export(*, list: LoyaltyList, sort: str = DEFAULT_SORT, **filters) -> QuerySet:
    """Every item the filters match, in the order the pages show them (one query, read as one snapshot)."""
    return ordered(list_items_filtered(list=list, **filters), item_ordering(sort))


# --- preview -------------------------------------------------------------------------------------------
@dataclass
class Preview:
    count: int
    sample: list[SmileCustomer]
    synced: bool  # False: no customer synced yet, the preview cannot say anything


def list_preview(*, merchant, audience: str, vip_tier_id: int | None, sample_size: int = 10) -> Preview:
    """Who a list with this rule would hold, computed from the customer snapshot of the last sync
    (the same rule the publish uses, ``membership_q``). Sample: the newest Smile customers."""
    live = SmileCustomer.objects.for_merchant(merchant).filter(gone_at__isnull=True)
    members = live.filter(membership_q(audience, vip_tier_id))
    sample = list(members.order_by("-smile_id")[:sample_size])
    count = members.count() if len(sample) == sample_size else len(sample)
    synced = bool(sample) or live.exists()
    return Preview(count=count, sample=sample, synced=synced)


# --- chart ---------------------------------------------------------------------------------------------
def list_size_history(*, list: LoyaltyList, runs: int = 30) -> list[tuple[ListRunResult, int]]:
    """The list's member count after each of its last ``runs`` runs (cycles, and webhook refreshes
    grouped per minute), oldest first: the size it had before the run (``list_size``, recorded by
    every path) plus what the run published."""
    results = (
        ListRunResult.objects.filter(merchant_id=list.merchant_id, list=list)
        .select_related("run")
        .order_by("-run_id")[:runs]
    )
    points = []
    for result in reversed(builtin_list(results)):
        size = result.list_size
        if (
            result.outcome == ListRunResult.Outcome.PUBLISHED
            or result.decision == ListRunResult.Decision.APPROVED
        ):
            size = result.list_size + result.added - result.removed
        points.append((result, size))
    return points


# --- VIP tiers -----------------------------------------------------------------------------------------
def tiers_by_id(*, merchant) -> dict[int, VipTier]:
    """Every VIP tier the merchant's syncs have seen (vanished ones too: ``exists_in_smile=False``)."""
    return {t.smile_id: t for t in VipTier.objects.for_merchant(merchant)}


def _tiers_carried(lst: LoyaltyList, tier_ids: builtin_list[int]) -> set[int]:
    """Which of ``tier_ids`` some item of the list carries. Items have no tier index, so a tier nobody
    carries costs a walk over the list: cached per (list, publish). Only vanished tiers are asked about,
    and no later change can give an item a tier Smile no longer has, so a cached answer is at worst a
    tier that now matches nobody."""
    if not tier_ids:
        return set()
    key = f"web:tiers-carried:{lst.pk}:{lst.published_seq}:{lst.item_count}:{','.join(map(str, tier_ids))}"
    carried = cache.get(key)
    if carried is None:
        items = ListItem.objects.filter(list=lst).order_by("id")  # SQLite: rowid order (list_items_count)
        carried = [t for t in tier_ids if items.filter(vip_tier_id=t).values_list("id", flat=True)[:1]]
        cache.set(key, carried, TIERS_CARRIED_SECONDS)
    return set(carried)


def tier_filter_options(*, list: LoyaltyList, tiers: dict[int, VipTier]) -> builtin_list[tuple[int, str]]:
    """The VIP tier filter of a list page, ``(smile id, label)``: the tiers Smile has now, by milestone,
    then the vanished tiers items of this list still carry, labelled so. A tier deleted and re-created in
    Smile (a new id, the same name) is offered once, unless items still carry the old one.
    ``tiers``: ``tiers_by_id`` of the list's merchant."""
    tiers = sorted(tiers.values(), key=lambda t: (t.milestone is None, t.milestone or 0, t.smile_id))
    live = [t for t in tiers if t.exists_in_smile]
    gone = [t for t in tiers if not t.exists_in_smile]
    carried = _tiers_carried(list, [t.smile_id for t in gone])
    return [(t.smile_id, t.name) for t in live] + [
        (t.smile_id, f"{t.name} (no longer in Smile)") for t in gone if t.smile_id in carried
    ]


# --- held runs -----------------------------------------------------------------------------------------
def pending_holds(*, merchant) -> QuerySet[ListRunResult]:
    """The merchant's held runs waiting for an admin's approve / discard (badges, the overview)."""
    holds = ListRunResult.objects.for_merchant(merchant).filter(
        outcome=ListRunResult.Outcome.HELD, decision=ListRunResult.Decision.PENDING
    )
    return holds.select_related("run").order_by("-run_id")


def list_holds(*, list: LoyaltyList, decided: int = 5) -> builtin_list[ListRunResult]:
    """The list's held runs waiting for a decision (at most one: a later hold supersedes it) and its last
    ``decided`` ones an admin approved or discarded (who, when), newest first, in one query."""
    holds = ListRunResult.objects.filter(
        merchant_id=list.merchant_id,
        list=list,
        outcome=ListRunResult.Outcome.HELD,
        decision__in=[
            ListRunResult.Decision.PENDING,
            ListRunResult.Decision.APPROVED,
            ListRunResult.Decision.DISCARDED,
        ],
    )
    return builtin_list(holds.select_related("run", "decided_by").order_by("-run_id")[: decided + 1])


# --- shoppers ------------------------------------------------------------------------------------------
def shopper_history(*, merchant, email: str, limit: int = 200) -> list[ListChange]:
    """The shopper's list changes (joined, left, tier up / down, metadata), newest first."""
    normalized = email_normalize(email)
    if not normalized:
        return []
    changes = ListChange.objects.for_merchant(merchant).filter(email=normalized)
    # newest first by id (changes are written in time order): the (merchant, email, id) index, no sort
    return builtin_list(changes.select_related("list", "run").order_by("-id")[:limit])


def shopper_customers(*, merchant, email: str) -> list[SmileCustomer]:
    """The Smile customers with this email in the snapshot as of the last publish (Smile allows
    duplicates)."""
    return builtin_list(customers_for_email(merchant_id=merchant.pk, email=email))
