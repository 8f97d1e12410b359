"""The lookup path: one email against one or many lists, in a constant number of indexed queries.

    found, as_of = lists_with_items(merchant_id=m.pk, email="ann@example.com", ids=[...])  # or ids=None
    explain_outsiders(merchant_id=m.pk, results=found.values(), email="ann@example.com")

Queries, whatever the number of lists or their size (all hand-written, ``rawsql.py``):
1. the lists (index ``(merchant, name, id)``: in order, no sort), each joined to its items with this
   email (index ``(list, email, smile_customer_id)``; ``selectors.items_for_email``'s rows, in its
   order), and the merchant's sync state for ``as_of`` (one row per merchant) — one statement;
2. only when some list does not hold the email: the snapshot rows with this email (index
   ``(merchant, email, smile_id)``), from which every non-member is explained at once (``explain_many``);
3. only when the snapshot disagrees with a (not stale) list: which of those lists have a run held for
   approval (one query for all of them).

``explain_many`` gives each list the same ``reason_code`` and ``reason`` as the lists domain's
``explain(list=..., email=...)``, without its per-list queries; tests hold both this module's queries to
the ORM selectors they mirror and ``explain_many`` to ``explain``.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from operator import itemgetter

from django.db import connection

from loyalty_lists.lists.explain import when_text
from loyalty_lists.lists.membership import evaluate
from loyalty_lists.lists.models import ListItem, LoyaltyList, SmileCustomer, SyncRunList, SyncState

from . import rawsql
from .rawsql import column as c
from .rawsql import table

ITEM_FIELDS = (
    "smile_customer_id",
    "email",
    "points_balance",
    "vip_tier_id",
    "vip_tier_name",
    "vip_tier_expires_at",
    "state",
    "loyalty_member_since",
)
LIST_FIELDS = ("id", "merchant", "name", "audience", "vip_tier_id", "stale_since", "stale_reason")
CUSTOMER_FIELDS = ("id", "smile_id", "email", "state", "vip_tier_id", "last_seen_at", "gone_at")
HELD_REASON = (
    "Smile's latest data says the shopper belongs in the list, but the list's last run is held "
    "for approval (too many removals)."
)
PENDING_REASON = "Smile's latest data says the shopper belongs in the list; the next sync cycle publishes it."


@dataclass
class Membership:
    list: LoyaltyList
    items: list[dict] = field(default_factory=list)  # ITEM_FIELDS, ordered by Smile customer id
    reason_code: str | None = None  # None for members
    reason: str | None = None

    @property
    def member(self) -> bool:
        return bool(self.items)


# --- queries ------------------------------------------------------------------------------------------
@cache
def _lookup_sql(count: int | None) -> str:
    # Short aliases: Django's SQLite backend rewrites every %s with a regex over the whole statement on
    # each call (~10 ns a character), so the hot path keeps its SQL short.
    watermark = (
        f"(SELECT {c(SyncState, 'watermark')} FROM {table(SyncState)} WHERE {c(SyncState, 'merchant')} = %s)"  # noqa: S608  # nosec B608
    )
    where = f"l.{c(LoyaltyList, 'merchant')} = %s"
    if count is not None:
        where += f" AND l.{c(LoyaltyList, 'id')} IN ({rawsql.placeholders(count)})"
    return (
        f"SELECT {rawsql.columns(LoyaltyList, LIST_FIELDS, 'l')}, {watermark},"  # noqa: S608  # nosec B608
        f" {rawsql.columns(ListItem, ITEM_FIELDS, 'i')}"
        f" FROM {table(LoyaltyList)} l LEFT JOIN {table(ListItem)} i"
        f" ON i.{c(ListItem, 'list')} = l.{c(LoyaltyList, 'id')} AND i.{c(ListItem, 'email')} = %s"
        f" AND i.{c(ListItem, 'merchant')} = l.{c(LoyaltyList, 'merchant')}"
        f" WHERE {where} ORDER BY l.{c(LoyaltyList, 'name')}, l.{c(LoyaltyList, 'id')}"
    )


_ITEM_START = len(LIST_FIELDS) + 1  # list columns, the watermark, then the item's columns


def lists_with_items(
    *, merchant_id: int, email: str, ids: list[int] | None = None
) -> tuple[dict[int, Membership], datetime | None]:
    """The merchant's lists — all of them by name (``lists_for_merchant``), or those of ``ids`` that are
    the merchant's (missing / foreign ids are simply absent) — each with its items for ``email``
    (``selectors.items_for_email``: dicts of ``ITEM_FIELDS`` by Smile customer id; ``email`` already
    normalised), not explained yet; and ``as_of``. One query (two when the merchant has no such list)."""
    if ids is not None and not ids:
        return {}, as_of(merchant_id=merchant_id)
    rows = rawsql.fetch(
        _lookup_sql(None if ids is None else len(ids)), [merchant_id, email, merchant_id, *(ids or [])]
    )
    if not rows:
        return {}, as_of(merchant_id=merchant_id)
    found: dict[int, Membership] = {}
    tz = connection.timezone
    for row in rows:
        membership = found.get(row[0])
        if membership is None:
            lst = rawsql.instance(LoyaltyList, LIST_FIELDS, row[: len(LIST_FIELDS)], tz)
            membership = found[lst.pk] = Membership(lst)
        if row[_ITEM_START] is not None:  # the LEFT JOIN found an item
            membership.items.append(rawsql.row_as_dict(ListItem, ITEM_FIELDS, row[_ITEM_START:], tz))
    for membership in found.values():
        if len(membership.items) > 1:
            membership.items.sort(key=itemgetter("smile_customer_id"))
    return found, rawsql.aware(rows[0][len(LIST_FIELDS)], tz)


@cache
def _customers_sql() -> str:
    return (
        f"SELECT {rawsql.columns(SmileCustomer, CUSTOMER_FIELDS, 's')} FROM {table(SmileCustomer)} s"  # noqa: S608  # nosec B608
        f" WHERE s.{c(SmileCustomer, 'merchant')} = %s AND s.{c(SmileCustomer, 'email')} = %s"
        f" AND s.{c(SmileCustomer, 'email_indexed')}"  # the partial index's condition, as the ORM writes it
    )


def snapshot_customers(*, merchant_id: int, email: str) -> list[SmileCustomer]:
    """The snapshot rows with this (normalised) email as of the last publish, by Smile id — what
    ``explain`` reads."""
    rows = rawsql.fetch(_customers_sql(), [merchant_id, email])
    tz = connection.timezone
    customers = [rawsql.instance(SmileCustomer, CUSTOMER_FIELDS, row, tz) for row in rows]
    customers.sort(key=lambda customer: customer.smile_id)
    return customers


@cache
def _as_of_sql() -> str:
    return f"SELECT {c(SyncState, 'watermark')} FROM {table(SyncState)} WHERE {c(SyncState, 'merchant')} = %s"  # noqa: S608  # nosec B608


def as_of(*, merchant_id: int):
    """The start of the merchant's last good sync cycle (its watermark), or None before the first one.

    Every change made in Smile before this moment is in the lists (webhooks may have added later ones).
    One query on the one-row-per-merchant sync state — constant, however many runs (webhook refreshes
    included) the merchant has piled up."""
    rows = rawsql.fetch(_as_of_sql(), [merchant_id])
    return rawsql.aware(rows[0][0]) if rows else None


# --- answers ------------------------------------------------------------------------------------------
def explain_outsiders(*, merchant_id: int, results: Iterable[Membership], email: str) -> None:
    """Fill in ``reason_code`` / ``reason`` for the memberships whose list does not hold ``email``."""
    outsiders = [m for m in results if not m.member]
    if outsiders:
        explained = explain_many(merchant_id=merchant_id, lists=[m.list for m in outsiders], email=email)
        for m in outsiders:
            m.reason_code, m.reason = explained[m.list.pk]


def explain_many(*, merchant_id: int, lists: list[LoyaltyList], email: str) -> dict[int, tuple[str, str]]:
    """``{list id: (reason_code, reason)}`` for lists that do *not* hold ``email`` — ``explain``'s answer
    for a non-member, computed for all the lists from one snapshot query (and at most one more)."""
    customers = snapshot_customers(merchant_id=merchant_id, email=email)
    live = [customer for customer in customers if customer.gone_at is None]
    last_seen = max((customer.last_seen_at for customer in customers), default=None)
    seen = f" Last seen in Smile: {when_text(last_seen)}."

    answers: dict[int, tuple[str, str]] = {}
    disagreeing: list[LoyaltyList] = []
    for lst in lists:
        if lst.is_stale:
            reason = lst.stale_reason or "The list is stale."
            answers[lst.pk] = (
                "list_stale",
                f"{reason} As of its last update the shopper is not in it.{seen}",
            )
            continue
        verdicts = [evaluate(lst.audience, lst.vip_tier_id, customer) for customer in live]
        if any(verdict.member for verdict in verdicts):
            disagreeing.append(lst)
        elif not customers:
            answers[lst.pk] = ("not_in_smile", "No Smile customer has this email (as of the last sync).")
        elif not live:
            answers[lst.pk] = ("gone", f"The Smile customer with this email was deleted from Smile.{seen}")
        else:
            answers[lst.pk] = (verdicts[0].code, f"{verdicts[0].text}{seen}")
    if disagreeing:
        held = set(
            SyncRunList.objects.filter(
                merchant_id=merchant_id,
                list__in=[lst.pk for lst in disagreeing],
                outcome=SyncRunList.Outcome.HELD,
                decision=SyncRunList.Decision.PENDING,
            ).values_list("list_id", flat=True)
        )
        for lst in disagreeing:
            answers[lst.pk] = (
                ("held", HELD_REASON + seen) if lst.pk in held else ("pending", PENDING_REASON + seen)
            )
    return answers
