"""Why is (or isn't) a shopper in a list? Answers from the rows it is given: the list, its items with the
email, and the snapshot's customers with it — loaded once per email, whatever the number of lists.

    evidence = Evidence(merchant_id=m.pk, email="Ann@Example.com ", lists=lists)  # 1 query (2 at most)
    items = items_for_email(merchant=m, email=evidence.email)                   # 1 query, every list
    e = explain(list=lst, items=[i for i in items if i.list_id == lst.pk], evidence=evidence)
    e.member, e.reason_code, e.reason, e.items

The shopper page and the JSON API both answer through it.

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

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from .membership import Verdict, email_normalize, evaluate
from .models import ListItem, LoyaltyList, SmileCustomer
from .selectors import customers_for_email, held_list_ids

CUSTOMER_FIELDS = (
    "smile_id",
    "email",
    "state",
    "vip_tier_id",
    "last_seen_at",
    "gone_at",
)  # what explain reads


@dataclass
class Explanation:
    member: bool
    reason_code: str
    reason: str
    items: list[ListItem] = field(default_factory=list)
    customers: list[tuple[SmileCustomer, Verdict]] = field(default_factory=list)
    last_seen_at: datetime | None = None


class Evidence:
    """What ``explain`` reads about one (normalised) email besides the list's own items, loaded once for
    any number of lists: the snapshot's Smile customers with the email (one query), and — only if an
    answer needs it — which of ``lists`` have a run held for approval (one more query)."""

    def __init__(self, *, merchant_id: int, email: str, lists: Sequence[LoyaltyList]):
        self.merchant_id = merchant_id
        self.email = email_normalize(email)
        self.lists = lists
        customers = customers_for_email(merchant_id=merchant_id, email=email).only(*CUSTOMER_FIELDS)
        self.customers: list[SmileCustomer] = list(customers)

    @cached_property
    def held_list_ids(self) -> set[int]:
        return set(held_list_ids(merchant_id=self.merchant_id, lists=[lst.pk for lst in self.lists]))


def when_text(value: datetime | None) -> str:
    """A moment as the explanations write it ("2026-05-01 14:03 UTC"; "never" for None)."""
    if value is None:
        return "never"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def in_list_since(lst: LoyaltyList, item: ListItem) -> str:
    """When the item came into the list; a list's first fill records no "joined" change, so say so."""
    if lst.first_filled_at is not None and item.added_at == lst.first_filled_at:
        return f"since the list's first sync ({when_text(item.added_at)})"
    return f"since {when_text(item.added_at)}"


def explain(*, list: LoyaltyList, items: Sequence[ListItem], evidence: Evidence) -> Explanation:
    """Why the shopper of ``evidence.email`` is (``items``: the list's items with that email, by Smile
    customer id) or is not (``items`` empty) in ``list``. Reads nothing but the rows it is given (and
    ``evidence.held_list_ids`` when the list and the snapshot disagree)."""
    lst = list
    items = [*items]
    if not evidence.email:
        return Explanation(False, "no_email", "No email given: lists match shoppers on their email.")
    customers = evidence.customers
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
        if lst.pk in evidence.held_list_ids:
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
