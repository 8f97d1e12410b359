"""The change feed: every ``ListChange`` of a merchant, in commit order, behind a durable cursor.

**Why the id is a sound cursor.** Every ``ListChange`` row of a merchant is inserted while the merchant's
``SyncState`` row is locked, and the lock is held until commit (the publish of a cycle, a webhook
refresh or an approval; tier changes; discards; deletions — see ``ListChange``). Ids come from one
sequence (PostgreSQL: ``nextval`` is monotonic across sessions; SQLite: one writer at a time). So when a
reader sees a merchant's row *n*, every row of that merchant with a smaller id has committed — a later
transaction of the merchant could only take the lock, and so its ids, after *n*'s transaction
committed. Hence:

* a page is ``merchant = M AND id > after AND id <= upper ORDER BY id``, where ``upper`` is the
  merchant's largest id read *first* (so a filter that skips rows never skips one committed later);
* the next cursor is the last row's id, or ``upper`` when the page is not full (filtered consumers do
  not rescan what they skipped).

**Retention.** Rows older than ``CHANGE_FEED_RETENTION_DAYS`` go in id order (a prefix per merchant),
and ``FeedHorizon.purged_through`` says how far; a cursor before it gets ``CursorExpired`` (the API's
410), never a silent gap. The horizon is raised before the rows go, and re-read after a page is read.
"""

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q

from loyalty_lists.lists.models import ListChange

from .models import FeedHorizon

logger = logging.getLogger(__name__)

Kind = ListChange.Kind
PURGE_CHUNK = 20_000
FIELDS = (
    "id",
    "kind",
    "list_id",
    "run_id",
    "created_at",
    "smile_customer_id",
    "email",
    "vip_tier_name",
    "previous_vip_tier_name",
    "detail",
)


class CursorExpired(Exception):
    def __init__(self, horizon: int):
        super().__init__(f"Changes up to {horizon} are gone (retention).")
        self.horizon = horizon


def utc_text(value: datetime) -> str:
    """``2026-12-06T19:31:00Z``, as every time the API answers with."""
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def feed_horizon(merchant_id: int) -> int:
    row = FeedHorizon.objects.filter(merchant_id=merchant_id).values_list("purged_through", flat=True)
    return next(iter(row), 0)


def feed_latest(merchant_id: int) -> int:
    """The merchant's newest feed id (0: none yet); every smaller one is committed."""
    return ListChange.objects.filter(merchant_id=merchant_id).aggregate(top=Max("id"))["top"] or 0


def _filtered(qs, *, list_ids=None, kinds=None):
    if kinds:
        qs = qs.filter(kind__in=list(kinds))
    if list_ids:
        ids = list(list_ids)
        qs = qs.filter(Q(list_id__in=ids) | Q(kind=Kind.LIST_DELETED, detail__deleted_list_id__in=ids))
    return qs


def feed_rows(*, merchant_id: int, after: int, upper: int, limit: int, list_ids=None, kinds=None) -> list:
    """Up to ``limit`` rows (tuples of ``FIELDS``) with ``after < id <= upper``, in order."""
    qs = ListChange.objects.filter(merchant_id=merchant_id, id__gt=after, id__lte=upper)
    qs = _filtered(qs, list_ids=list_ids, kinds=kinds)
    return list(qs.order_by("id").values_list(*FIELDS)[:limit])


def feed_page(
    *, merchant_id: int, after: int, limit: int, list_ids=None, kinds=None
) -> tuple[list, int, bool]:
    """``(rows, next_cursor, has_more)``; raises ``CursorExpired`` for a cursor before the horizon."""
    if after < feed_horizon(merchant_id):
        raise CursorExpired(feed_horizon(merchant_id))
    upper = feed_latest(merchant_id)
    rows = feed_rows(
        merchant_id=merchant_id, after=after, upper=upper, limit=limit + 1, list_ids=list_ids, kinds=kinds
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    if after < feed_horizon(merchant_id):  # retention ran while we read: the page may have a gap
        raise CursorExpired(feed_horizon(merchant_id))
    next_cursor = rows[-1][0] if has_more else max(after, upper)
    return rows, next_cursor, has_more


def event_out(row) -> dict:
    """One feed row as the API and the webhooks show it (plain JSON types)."""
    (change_id, kind, list_id, run_id, created_at, smile_id, email, tier, previous_tier, detail) = row
    detail = dict(detail or {})
    shopper = None
    if kind in ListChange.MEMBERSHIP_KINDS:
        shopper = {
            "smile_customer_id": smile_id,
            "email": email,
            "vip_tier_name": tier,
            "previous_vip_tier_name": previous_tier,
        }
        event = None
    else:
        event = {
            "reason": detail.get("reason"),
            "removed": detail.get("removed"),
            "added": detail.get("added"),
            "changed": detail.get("changed"),
            "list_size": detail.get("list_size"),
            "vip_tier_id": detail.get("vip_tier_id"),
            "name": detail.get("name"),
        }
    return {
        "cursor": str(change_id),
        "kind": kind,
        "list_id": list_id if list_id is not None else detail.get("deleted_list_id"),
        "run_id": run_id if run_id is not None else detail.get("run_id"),
        "occurred_at": utc_text(created_at),
        "shopper": shopper,
        "list_event": event,
    }


# --- retention ------------------------------------------------------------------------------------
def feed_purge(*, now: datetime, keep_for: dict[int, int] | None = None) -> int:
    """Remove feed rows older than the retention, per merchant as an id prefix; returns rows removed.
    ``keep_for``: merchant -> a feed id the purge must not pass (an enabled endpoint's cursor)."""
    days = settings.CHANGE_FEED_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = now - timedelta(days=days)
    old = ListChange.objects.filter(created_at__lt=cutoff)
    removed = 0
    for merchant_id, boundary in old.values_list("merchant_id").annotate(top=Max("id")).order_by():
        if keep_for and merchant_id in keep_for:
            boundary = min(boundary, keep_for[merchant_id])
        if boundary <= feed_horizon(merchant_id):
            continue
        with transaction.atomic():  # the horizon first: a reader that then misses rows sees it
            horizon, _ = FeedHorizon.objects.select_for_update().get_or_create(merchant_id=merchant_id)
            horizon.purged_through = max(horizon.purged_through, boundary)
            horizon.purged_at = now
            horizon.save()
        while True:
            ids = list(
                ListChange.objects.filter(merchant_id=merchant_id, id__lte=boundary)
                .order_by("id")
                .values_list("id", flat=True)[:PURGE_CHUNK]
            )
            if not ids:
                break
            with transaction.atomic():
                removed += ListChange.objects.filter(
                    merchant_id=merchant_id, id__gte=ids[0], id__lte=ids[-1]
                ).delete()[0]
        logger.info("Feed of merchant %s: removed changes through %s (retention)", merchant_id, boundary)
    return removed
