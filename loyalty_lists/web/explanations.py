"""Explanations as the pages show them: a tier's name instead of its Smile id, moments in the pages' one
time format.

The sentences come from the lists domain (``membership.evaluate``, ``explain``), shared with the API, which
writes a tier as "(#426715183)" and a moment as "2026-05-01 14:03 UTC". A merchant knows the tier as
"Silver": the page puts back the names it knows (the merchant's ``VipTier`` rows, else the name Smile gave
with the customer) and the moments the explanation carries.
"""

from loyalty_lists.lists.explain import Explanation, when_text
from loyalty_lists.lists.models import VipTier

from .templatetags.loyalty_web import moment_with_hint


def explanation_text(explanation: Explanation, tiers: dict[int, VipTier]) -> str:
    text = explanation.reason
    for customer, _verdict in explanation.customers:
        tier_id = customer.vip_tier_id
        if tier_id is None:
            continue
        tier = tiers.get(tier_id)
        name = tier.name if tier is not None else customer.vip_tier_name
        if name:
            text = text.replace(f"(#{tier_id})", f"({name})")
    moments = [explanation.last_seen_at, *(item.added_at for item in explanation.items)]
    for moment in moments:
        if moment is not None:
            text = text.replace(when_text(moment), moment_with_hint(moment))
    return text
