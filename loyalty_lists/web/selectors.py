"""Page-specific reads the lists domain's selectors do not cover: filtered item pages (with Previous),
the preview of an unsaved list, the member-count chart, held-run badges and a shopper's history.
Everything is scoped to one merchant (the list, or ``merchant=``)."""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet

from loyalty_lists.lists.membership import email_normalize, membership_q
from loyalty_lists.lists.models import ListChange, ListItem, LoyaltyList, SmileCustomer, SyncRunList
from loyalty_lists.lists.selectors import customers_for_email

from .paging import Ordering, Page, keyset_page

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


# Ties of the email (Smile allows duplicates) are broken by the Smile customer id, which is unique in a
# list: the page then reads the ``(list, email, smile_customer_id)`` index that lookups use too, and
# the publish maintains one email index, not two.
TIES = {"email": "smile_customer_id"}


def item_ordering(sort: str) -> Ordering:
    _label, field, descending = SORTS.get(sort, SORTS[DEFAULT_SORT])
    return Ordering(
        field, descending=descending, nullable=field in NULLABLE_FIELDS, tag=sort, tie=TIES.get(field, "id")
    )


def email_prefix_q(prefix: str) -> Q:
    """Emails starting with ``prefix`` (emails are stored normalised). On SQLite (binary collation) the
    equivalent range also lets the ``(list, email, smile_customer_id)`` index narrow the scan."""
    q = Q(email__startswith=prefix)
    if connection.vendor == "sqlite" and prefix and ord(prefix[-1]) < 0x10FFFF:
        q &= Q(email__gte=prefix, email__lt=prefix[:-1] + chr(ord(prefix[-1]) + 1))
    return q


def list_items_filtered(
    *, list: LoyaltyList, email_prefix: str = "", state: str = "", tier: str = ""
) -> QuerySet:
    items = ListItem.objects.filter(list=list)  # the list is already scoped to the merchant
    prefix = email_normalize(email_prefix)
    if prefix:
        items = items.filter(email_prefix_q(prefix))
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
def list_size_history(*, list: LoyaltyList, runs: int = 30) -> list[tuple[SyncRunList, int]]:
    """The list's member count after each of its last ``runs`` runs (cycles, and webhook refreshes
    grouped per minute), oldest first: the size it had before the run (``list_size``, recorded by
    every path) plus what the run published."""
    results = (
        SyncRunList.objects.filter(merchant_id=list.merchant_id, list=list)
        .select_related("run")
        .order_by("-run_id")[:runs]
    )
    points = []
    for result in reversed(builtin_list(results)):
        size = result.list_size
        if (
            result.outcome == SyncRunList.Outcome.PUBLISHED
            or result.decision == SyncRunList.Decision.APPROVED
        ):
            size = result.list_size + result.added - result.removed
        points.append((result, size))
    return points


# --- held runs -----------------------------------------------------------------------------------------
def pending_holds(*, merchant, list: LoyaltyList | None = None) -> QuerySet[SyncRunList]:
    holds = SyncRunList.objects.for_merchant(merchant).filter(
        outcome=SyncRunList.Outcome.HELD, decision=SyncRunList.Decision.PENDING
    )
    if list is not None:
        holds = holds.filter(list=list)
    return holds.select_related("run").order_by("-run_id")


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
