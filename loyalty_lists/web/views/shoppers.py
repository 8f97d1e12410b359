"""Shopper view: for one email, every list the shopper is in (with the item's metadata), why they are
not in the others (the explain service), the Smile customers behind the email and their change history."""

from dataclasses import dataclass

from django.shortcuts import render
from django.views.decorators.http import require_GET

from loyalty_lists.lists.explain import Evidence, Explanation, explain
from loyalty_lists.lists.models import ListItem, LoyaltyList, VipTier
from loyalty_lists.lists.selectors import items_for_email, lists_for_merchant

from ..decorators import merchant_page
from ..explanations import explanation_text
from ..forms import ShopperForm
from ..selectors import shopper_customers, shopper_history, tiers_by_id


@dataclass
class ListAnswer:
    list: LoyaltyList
    items: list[ListItem]
    explanation: Explanation | None  # for lists the shopper is not in
    tier: VipTier | None = None  # a tier list's tier
    why: str = ""  # the explanation as the page words it (tier names, the pages' time format)


@merchant_page
@require_GET
def shopper(request):
    merchant = request.merchant
    form = ShopperForm(request.GET or None)
    context = {"form": form, "searched": False}
    if form.is_valid():  # the email rule of the API's lookups (``membership.email_valid``), normalised
        email = form.cleaned_data["email"]
        lists = list(lists_for_merchant(merchant=merchant))
        tiers = tiers_by_id(merchant=merchant)
        by_list: dict[int, list[ListItem]] = {}
        for item in items_for_email(merchant=merchant, email=email):
            by_list.setdefault(item.list_id, []).append(item)
        evidence = Evidence(merchant_id=merchant.pk, email=email, lists=lists)
        member_of, not_in = [], []
        for lst in lists:
            if lst.pk in by_list:
                member_of.append(ListAnswer(lst, by_list[lst.pk], None, tiers.get(lst.vip_tier_id)))
            else:
                explanation = explain(list=lst, items=[], evidence=evidence)
                why = explanation_text(explanation, tiers)
                not_in.append(ListAnswer(lst, [], explanation, tiers.get(lst.vip_tier_id), why))
        context.update(
            searched=True,
            email=email,
            lists=lists,
            member_of=member_of,
            not_in=not_in,
            customers=shopper_customers(merchant=merchant, email=email),
            history=shopper_history(merchant=merchant, email=email),
        )
    return render(request, "web/shoppers/index.html", context)
