"""Why is (or isn't) a shopper in a list? Answers from the list, the snapshot and the rules.

    e = explain(list=lst, email="Ann@Example.com ")
    e.member, e.reason_code, e.reason, e.items

``reason_code`` is one of:

=============== ==========================================================================
member          in the list (and Smile agrees)
no_email        no email given — lists match on email, shoppers without one are never in
not_in_smile    no Smile customer has this email (as of the last sync)
gone            the Smile customer(s) with this email were deleted from Smile
disabled        the shopper is disabled in Smile
candidate       a candidate, but the list holds members only
other_tier      in another VIP tier (or none) than the tier list's
state           another Smile state than the list's audience
list_stale      the list's VIP tier vanished from Smile; the list is frozen
held            Smile's data differs from the list, but a run for this list is held for approval
pending         Smile's data differs from the list; the next cycle will publish it
=============== ==========================================================================
"""

import builtins
from dataclasses import dataclass, field
from datetime import UTC, datetime

from loyalty_lists.lists.membership import email_normalize

from .membership import Verdict, evaluate
from .models import ListItem, LoyaltyList, SmileCustomer, SyncRunList
from .selectors import customers_for_email, items_for_email


@dataclass
class Explanation:
    member: bool
    reason_code: str
    reason: str
    items: list[ListItem] = field(default_factory=list)
    customers: list[tuple[SmileCustomer, Verdict]] = field(default_factory=list)
    last_seen_at: datetime | None = None


def when_text(value: datetime | None) -> str:
    """A moment as the explanations write it ("2026-05-01 14:03 UTC"; "never" for None). Public: the
    API's batch explanations (``loyalty_lists.api.lookup.explain_many``) must read exactly the same."""
    if value is None:
        return "never"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def in_list_since(lst: LoyaltyList, item: ListItem) -> str:
    """When the item came into the list; a list's first fill records no "joined" change, so say so."""
    if lst.first_filled_at is not None and item.added_at == lst.first_filled_at:
        return f"since the list's first sync ({when_text(item.added_at)})"
    return f"since {when_text(item.added_at)}"


def _has_pending_hold(lst: LoyaltyList) -> bool:
    return SyncRunList.objects.filter(
        list=lst, outcome=SyncRunList.Outcome.HELD, decision=SyncRunList.Decision.PENDING
    ).exists()


def explain(*, list: LoyaltyList, email: str) -> Explanation:
    lst = list
    normalized = email_normalize(email)
    if not normalized:
        return Explanation(False, "no_email", "No email given: lists match shoppers on their email.")
    items = builtins.list(items_for_email(merchant=lst.merchant, email=normalized, lists=[lst]))
    customers = builtins.list(customers_for_email(merchant_id=lst.merchant_id, email=normalized))
    live = [c for c in customers if c.gone_at is None]
    verdicts = [(c, evaluate(lst.audience, lst.vip_tier_id, c)) for c in live]
    last_seen = max((c.last_seen_at for c in customers), default=None)
    seen = f" Last seen in Smile: {when_text(last_seen)}."
    member = bool(items)

    def answer(code: str, reason: str) -> Explanation:
        return Explanation(member, code, reason, items, verdicts, last_seen)

    if lst.is_stale:
        state = "is in" if member else "is not in"
        return answer(
            "list_stale",
            f"{lst.stale_reason or 'The list is stale.'} As of its last update the shopper {state} it.{seen}",
        )
    smile_says_member = any(v.member for _, v in verdicts)
    if member and smile_says_member:
        ids = ", ".join(f"#{i.smile_customer_id}" for i in items)
        return answer("member", f"In the list as Smile customer {ids} {in_list_since(lst, items[0])}.{seen}")
    if member != smile_says_member:
        now_says = "belongs in" if smile_says_member else "no longer belongs in"
        if _has_pending_hold(lst):
            return answer(
                "held",
                f"Smile's latest data says the shopper {now_says} the list, but the list's last run is held "
                f"for approval (too many removals).{seen}",
            )
        return answer(
            "pending",
            f"Smile's latest data says the shopper {now_says} the list; the next sync "
            f"cycle publishes it.{seen}",
        )
    if not customers:
        return answer("not_in_smile", "No Smile customer has this email (as of the last sync).")
    if not live:
        return answer("gone", f"The Smile customer with this email was deleted from Smile.{seen}")
    _, verdict = verdicts[0]
    return answer(verdict.code, f"{verdict.text}{seen}")
