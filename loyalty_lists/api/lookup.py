"""The lookup path: one email against one or many lists, in a constant number of indexed queries.

    lists = lookup_lists(merchant_id=m.pk, ids=[...])           # or ids=None: every list, by name
    memberships(merchant_id=m.pk, lists=lists, email="ann@example.com")  # -> [Membership] in list order
    as_of(merchant_id=m.pk)

Queries, whatever the number of lists or their size (all hand-written, ``rawsql.py``):
1. the lists (primary key / ``merchant`` index);
2. the items with this email in all of them — ``selectors.items_for_email`` (index
   ``(list, email, smile_customer_id)``), ordered as it documents (list, then Smile customer id) in Python;
3. only when some list does not hold the email: the snapshot rows with this email (index
   ``(merchant, email, smile_id)``), from which every non-member is explained at once (``explain_many``);
4. only when the snapshot disagrees with a (not stale) list: which of those lists have a run held for
   approval (one query for all of them);
5. the merchant's sync state, for ``as_of`` (one row per merchant).

``explain_many`` gives each list the same ``reason_code`` and ``reason`` as the lists domain's
``explain(list=..., email=...)``, without its per-list queries; tests hold both this module's queries to
the ORM selectors they mirror and ``explain_many`` to ``explain``.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache

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
def _lists_sql(count: int | None) -> str:
    where = f"{c(LoyaltyList, 'merchant')} = %s"
    if count is not None:
        where += f" AND {c(LoyaltyList, 'id')} IN ({rawsql.placeholders(count)})"
    order = f"{c(LoyaltyList, 'name')}, {c(LoyaltyList, 'id')}"
    select = f"SELECT {rawsql.columns(LoyaltyList, LIST_FIELDS)} FROM {table(LoyaltyList)}"  # noqa: S608  # nosec B608
    return f"{select} WHERE {where} ORDER BY {order}"  # noqa: S608  # nosec B608


def lookup_lists(*, merchant_id: int, ids: list[int] | None = None) -> list[LoyaltyList]:
    """The merchant's lists with the columns lookups use: all of them by name (``lists_for_merchant``),
    or those of ``ids`` that are the merchant's (missing / foreign ids are simply absent)."""
    if ids is not None and not ids:
        return []
    rows = rawsql.fetch(_lists_sql(None if ids is None else len(ids)), [merchant_id, *(ids or [])])
    return [rawsql.instance(LoyaltyList, LIST_FIELDS, row) for row in rows]


@cache
def _items_sql(count: int) -> str:
    return (
        f"SELECT {c(ListItem, 'list')}, {rawsql.columns(ListItem, ITEM_FIELDS)} FROM {table(ListItem)}"  # noqa: S608  # nosec B608
        f" WHERE {c(ListItem, 'merchant')} = %s AND {c(ListItem, 'email')} = %s"
        f" AND {c(ListItem, 'list')} IN ({rawsql.placeholders(count)})"
    )


def items_by_list(*, merchant_id: int, email: str, list_ids: list[int]) -> dict[int, list[dict]]:
    """``selectors.items_for_email(merchant=..., email=..., lists=list_ids)`` as dicts, grouped by list;
    ``email`` already normalised. Order: by Smile customer id within a list."""
    rows = rawsql.fetch(_items_sql(len(list_ids)), [merchant_id, email, *list_ids])
    rows.sort(key=lambda row: (row[0], row[1]))  # (list, smile customer id): items_for_email's order
    by_list: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_list[row[0]].append(
            dict(zip(ITEM_FIELDS, rawsql.fix_datetimes(ListItem, ITEM_FIELDS, row[1:]), strict=True))
        )
    return by_list


@cache
def _customers_sql() -> str:
    return (
        f"SELECT {rawsql.columns(SmileCustomer, CUSTOMER_FIELDS)} FROM {table(SmileCustomer)}"  # noqa: S608  # nosec B608
        f" WHERE {c(SmileCustomer, 'merchant')} = %s AND {c(SmileCustomer, 'email')} = %s"
    )


def snapshot_customers(*, merchant_id: int, email: str) -> list[SmileCustomer]:
    """The snapshot rows with this (normalised) email, by Smile id — what ``explain`` reads."""
    rows = rawsql.fetch(_customers_sql(), [merchant_id, email])
    customers = [rawsql.instance(SmileCustomer, CUSTOMER_FIELDS, row) for row in rows]
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
def memberships(*, merchant_id: int, lists: list[LoyaltyList], email: str) -> list[Membership]:
    """``email`` must already be normalised (``email_normalize``) and not blank."""
    if not lists:
        return []
    by_list = items_by_list(merchant_id=merchant_id, email=email, list_ids=[lst.pk for lst in lists])
    results = [Membership(lst, by_list.get(lst.pk, [])) for lst in lists]
    outsiders = [m for m in results if not m.member]
    if outsiders:
        explained = explain_many(merchant_id=merchant_id, lists=[m.list for m in outsiders], email=email)
        for m in outsiders:
            m.reason_code, m.reason = explained[m.list.pk]
    return results


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
