"""Reads of the lists domain (pages, the JSON API, explain). Everything is scoped to one merchant.

(The admin pages page through a list's items with ``web/paging.py``.)"""

from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from loyalty_lists.lists.membership import email_normalize

from .models import ListItem, ListRunResult, LoyaltyList, SmileCustomer, SyncRun, SyncState

CYCLE_KINDS = (SyncRun.Kind.DELTA, SyncRun.Kind.FULL)
GOOD_STATUSES = (SyncRun.Status.SUCCEEDED, SyncRun.Status.HELD)


def lists_for_merchant(*, merchant, ids=None, with_as_of: bool = False) -> QuerySet[LoyaltyList]:
    """The merchant's lists by name (index ``(merchant, name, id)``: no sort); ``ids``: only those of
    them (another merchant's or unknown ids are simply absent). ``with_as_of``: each list carries
    ``as_of`` (``lists_as_of``), read in the same statement (the lookup's hot path)."""
    lists = LoyaltyList.objects.for_merchant(merchant)
    if ids is not None:
        lists = lists.filter(pk__in=ids)
    if with_as_of:
        watermark = SyncState.objects.filter(merchant_id=OuterRef("merchant_id")).values("watermark")[:1]
        lists = lists.annotate(as_of=Subquery(watermark))
    return lists.order_by("name", "pk")


def items_for_email(*, merchant, email: str, lists=None) -> QuerySet[ListItem]:
    """The items for one email (normalised: trimmed, case-insensitive) across the merchant's lists.

    Smile does not enforce unique emails, so one email may have several items in one list (one per
    Smile customer). Order, documented and deterministic: by list id, then by Smile customer id
    ascending (the oldest Smile customer first). ``lists``: optional lists (or ids) to restrict to.
    """
    normalized = email_normalize(email)
    if not normalized:
        return ListItem.objects.none()
    if lists is None:  # every list of the merchant: still probe (list, email) per list, never scan items
        lists = LoyaltyList.objects.for_merchant(merchant).values("pk")
    items = ListItem.objects.filter(merchant=merchant, email=normalized, list__in=lists)
    # ``email`` is fixed by the filter, so ordering by it changes nothing but steers SQLite (no statistics)
    # to the ``(list, email, smile_customer_id)`` index instead of walking the whole list in the unique
    # ``(list, smile_customer_id)`` index.
    # (No join to the lists: with one, SQLite drives the lookup from the list row and walks the list.)
    return items.order_by("list_id", "email", "smile_customer_id")


def customers_for_email(*, merchant_id: int, email: str) -> QuerySet[SmileCustomer]:
    """The snapshot's Smile customers with this (normalised) email as of the last publish, by Smile id
    (Smile allows duplicates). Read through the partial email index: rows the walk wrote since the
    last publish are not in it yet (``SmileCustomer.email_indexed``)."""
    normalized = email_normalize(email)
    if not normalized:
        return SmileCustomer.objects.none()
    return SmileCustomer.objects.filter(
        merchant_id=merchant_id, email=normalized, email_indexed=True
    ).order_by("smile_id")


def held_list_ids(*, merchant_id: int, lists) -> QuerySet:
    """Which of ``lists`` (lists or ids) have a run held for approval, waiting for an admin's decision
    (index ``(list, decision)``)."""
    return ListRunResult.objects.filter(
        merchant_id=merchant_id,
        list__in=lists,
        outcome=ListRunResult.Outcome.HELD,
        decision=ListRunResult.Decision.PENDING,
    ).values_list("list_id", flat=True)


def lists_as_of(*, merchant_id: int) -> datetime | None:
    """The start of the merchant's last good sync cycle (its watermark), or None before the first one.

    Every change made in Smile before this moment is in the lists (webhooks may have added later ones).
    One query on the one-row-per-merchant sync state — constant, however many runs (webhook refreshes
    included) the merchant has piled up."""
    for watermark in SyncState.objects.filter(merchant_id=merchant_id).values_list("watermark", flat=True):
        return watermark  # one row per merchant (or none)
    return None


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
    """The latest delta/full run that started, in any status (running, failed, ...)."""
    return (
        SyncRun.objects.for_merchant(merchant)
        .filter(kind__in=CYCLE_KINDS)
        .exclude(status=SyncRun.Status.QUEUED)
        .order_by("-started_at", "-pk")
        .first()
    )


def queued_cycle_run(*, merchant) -> SyncRun | None:
    """The cycle asked for and not started yet (at most one per merchant)."""
    return SyncRun.objects.for_merchant(merchant).filter(status=SyncRun.Status.QUEUED).first()


def sync_runs_for_merchant(*, merchant, kinds=None) -> QuerySet[SyncRun]:
    runs = SyncRun.objects.for_merchant(merchant)
    if kinds:
        runs = runs.filter(kind__in=kinds)
    return runs.order_by("-started_at", "-pk")
