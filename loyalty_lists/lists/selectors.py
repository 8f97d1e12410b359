"""Reads of the lists domain (pages, the JSON API, explain). Everything is scoped to one merchant."""

import base64
import binascii
import builtins
import json
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime

from integrations.smile.types import email_normalize

from .models import ListChange, ListItem, LoyaltyList, SyncRun, SyncRunList, VipTier

CYCLE_KINDS = (SyncRun.Kind.DELTA, SyncRun.Kind.FULL)
GOOD_STATUSES = (SyncRun.Status.SUCCEEDED, SyncRun.Status.HELD)


def lists_for_merchant(*, merchant) -> QuerySet[LoyaltyList]:
    return LoyaltyList.objects.for_merchant(merchant).order_by("name", "pk")


def vip_tiers_for_merchant(*, merchant, existing_only: bool = True) -> QuerySet[VipTier]:
    tiers = VipTier.objects.for_merchant(merchant)
    return tiers.filter(exists_in_smile=True) if existing_only else tiers


def items_for_email(*, merchant, email: str, lists=None) -> QuerySet[ListItem]:
    """The items for one email (normalised: trimmed, case-insensitive) across the merchant's lists.

    Smile does not enforce unique emails, so one email may have several items in one list (one per
    Smile customer). Order, documented and deterministic: by list id, then by Smile customer id
    ascending (the oldest Smile customer first). ``lists``: optional lists (or ids) to restrict to.
    """
    normalized = email_normalize(email)
    if not normalized:
        return ListItem.objects.none()
    items = ListItem.objects.for_merchant(merchant).filter(email=normalized)
    if lists is None:  # every list of the merchant: still probe (list, email) per list, never scan items
        lists = LoyaltyList.objects.for_merchant(merchant).values("pk")
    items = items.filter(list__in=lists)
    # ``email`` is fixed by the filter, so ordering by it changes nothing but steers SQLite (no statistics)
    # to the ``(list, email, smile_customer_id)`` index instead of walking the whole list in the unique
    # ``(list, smile_customer_id)`` index.
    # (No join to the lists: with one, SQLite drives the lookup from the list row and walks the list.)
    return items.order_by("list_id", "email", "smile_customer_id")


def last_good_sync(*, merchant) -> SyncRun | None:
    """The latest delta/full run that published (succeeded, or held for some list).

    One indexed probe per (kind, status) on ``(merchant, kind, status, finished_at)`` — never a walk
    over the merchant's runs (webhook refreshes pile up by the thousand)."""
    runs = SyncRun.objects.for_merchant(merchant)
    candidates = [
        run
        for kind in CYCLE_KINDS
        for status in GOOD_STATUSES
        if (run := runs.filter(kind=kind, status=status).order_by("-finished_at", "-pk").first()) is not None
    ]
    return max(candidates, key=lambda run: (run.finished_at, run.pk), default=None)


def latest_cycle_run(*, merchant) -> SyncRun | None:
    """The latest delta/full run in any status (running, failed, ...)."""
    return (
        SyncRun.objects.for_merchant(merchant)
        .filter(kind__in=CYCLE_KINDS)
        .order_by("-started_at", "-pk")
        .first()
    )


def sync_runs_for_merchant(*, merchant, kinds=None) -> QuerySet[SyncRun]:
    runs = SyncRun.objects.for_merchant(merchant)
    if kinds:
        runs = runs.filter(kind__in=kinds)
    return runs.order_by("-started_at", "-pk")


def held_results_for_merchant(*, merchant) -> QuerySet[SyncRunList]:
    """Held lists waiting for an admin's approve / discard."""
    return (
        SyncRunList.objects.for_merchant(merchant)
        .filter(outcome=SyncRunList.Outcome.HELD, decision=SyncRunList.Decision.PENDING)
        .select_related("list", "run")
        .order_by("-run__started_at", "list__name")
    )


def list_changes(*, list: LoyaltyList) -> QuerySet[ListChange]:
    return ListChange.objects.filter(merchant_id=list.merchant_id, list=list).order_by("-pk")


# --- keyset paging of list items ------------------------------------------------------------------
SORT_KEYS = ("email", "points_balance", "loyalty_member_since")
NULLABLE_SORT_KEYS = {"loyalty_member_since"}


class InvalidCursor(ValueError):
    pass


@dataclass
class ItemsPage:
    items: list[ListItem]
    next_cursor: str | None
    sort: str


def _encode_cursor(sort: str, value, item_id: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps({"s": sort, "v": value, "id": item_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str, key: str):
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != sort or not isinstance(data["id"], int):
            raise InvalidCursor("The cursor belongs to another sort order.")
        value = data["v"]
        if value is not None and key == "loyalty_member_since":
            value = parse_datetime(value)
            if value is None:
                raise InvalidCursor("Malformed cursor.")
        return value, data["id"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidCursor("Malformed cursor.") from exc


def list_items_page(
    *, list: LoyaltyList, sort: str = "email", after: str | None = None, limit: int = 50
) -> ItemsPage:
    """One page of a list's items, keyset-paged on ``(sort key, id)`` (stable under concurrent publishes,
    constant cost at any depth). ``sort``: one of ``SORT_KEYS``, optionally prefixed with "-" for
    descending; NULLs (``loyalty_member_since`` of candidates) come last either way. ``after``: the
    previous page's ``next_cursor``. Raises ``InvalidCursor`` / ``ValueError`` on bad input."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORT_KEYS:
        raise ValueError(f"Unknown sort {sort!r}; use one of {', '.join(SORT_KEYS)} (optionally with '-').")
    limit = max(1, min(int(limit), 500))
    base = ListItem.objects.filter(merchant_id=list.merchant_id, list=list)
    order = (f"-{key}", "-id") if descending else (key, "id")
    after_value, after_id = _decode_cursor(after, sort, key) if after else (None, None)
    in_null_phase = after is not None and after_value is None

    items: list[ListItem] = []
    if not in_null_phase:
        ranged = base.filter(**{f"{key}__isnull": False}) if key in NULLABLE_SORT_KEYS else base
        if after is not None:
            cmp, strict = ("lte", "lt") if descending else ("gte", "gt")
            ranged = ranged.filter(**{f"{key}__{cmp}": after_value}).filter(
                Q(**{f"{key}__{strict}": after_value}) | Q(**{f"id__{strict}": after_id})
            )
        items = builtins.list(ranged.order_by(*order)[: limit + 1])
    if key in NULLABLE_SORT_KEYS and len(items) <= limit:
        nulls = base.filter(**{f"{key}__isnull": True})
        if in_null_phase:
            nulls = nulls.filter(**{"id__lt" if descending else "id__gt": after_id})
        items += builtins.list(nulls.order_by("-id" if descending else "id")[: limit + 1 - len(items)])
    has_more = len(items) > limit
    items = items[:limit]
    next_cursor = None
    if has_more and items:
        last = items[-1]
        next_cursor = _encode_cursor(sort, getattr(last, key), last.pk)
    return ItemsPage(items=items, next_cursor=next_cursor, sort=sort)
