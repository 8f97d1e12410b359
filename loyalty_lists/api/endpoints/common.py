"""Helpers shared by the endpoints: the statuses each operation declares, scoping, and the answer to "is
this email in these lists, and if not, why?" (lookups and the members path)."""

from ninja import Path

from loyalty_lists.lists.explain import Evidence, explain
from loyalty_lists.lists.models import LoyaltyList, VipTier
from loyalty_lists.lists.selectors import items_for_email

from ..errors import ApiError
from ..schemas import INT64_MAX, ErrorOut, ItemOut

# Any call can answer these: a malformed request (400), no or a bad key (401), a body over the limit (413),
# the key's rate limit (429), a bug (500). Operations add their own (404, 415, 422).
ANY_CALL = (400, 401, 413, 429, 500)
ITEM_FIELDS = tuple(ItemOut.model_fields)
ListId = Path(..., ge=1, le=INT64_MAX, description="The list's id.", example=7)


def responses(success: dict, *errors: int) -> dict:
    """``success`` plus the error statuses an operation can answer, each with the JSON error shape."""
    return {**success, tuple(sorted({*ANY_CALL, *errors})): ErrorOut}


# What the endpoints and explain read of a list.
LIST_FIELDS = (
    "merchant_id",
    "name",
    "audience",
    "vip_tier_id",
    "stale_since",
    "stale_reason",
    "first_filled_at",
)


def merchant_id_of(request) -> int:
    """The key's merchant: every query of an endpoint is scoped to it."""
    return request.auth.merchant_id


def list_or_404(request, list_id: int) -> LoyaltyList:
    lst = LoyaltyList.objects.filter(merchant_id=merchant_id_of(request), pk=list_id).first()
    if lst is None:
        raise ApiError(404, f"No list with id {list_id}.")
    return lst


def stale_out(lst: LoyaltyList) -> dict | None:
    if lst.stale_since is None:
        return None
    return {
        "since": lst.stale_since,
        "reason": lst.stale_reason or "The list's VIP tier vanished from Smile.",
    }


def tier_names(merchant_id: int, tier_ids) -> dict[int, str]:
    tier_ids = {t for t in tier_ids if t is not None}
    if not tier_ids:
        return {}
    rows = VipTier.objects.filter(merchant_id=merchant_id, smile_id__in=tier_ids).values_list(
        "smile_id", "name"
    )
    return dict(rows)


def list_out(lst: LoyaltyList, names: dict[int, str]) -> dict:
    tier = None
    if lst.vip_tier_id is not None:
        tier = {"id": lst.vip_tier_id, "name": names.get(lst.vip_tier_id, f"VIP tier #{lst.vip_tier_id}")}
    return {
        "id": lst.pk,
        "name": lst.name,
        "audience": lst.audience,
        "vip_tier": tier,
        "member_count": lst.item_count,
        "stale": stale_out(lst),
        "last_synced_at": lst.last_published_at,
    }


def list_answers(*, merchant_id: int, email: str, lists: list[LoyaltyList]) -> list[dict]:
    """For each of ``lists`` (the merchant's), in order: ``member``, the items with this (normalised)
    email, by Smile customer id, and for a list that does not hold it ``reason`` / ``reason_code`` from
    the lists domain's ``explain``. Queries, whatever the number of lists: the items; the snapshot's
    customers when some list does not hold the email; which lists have a held run, when that decides an
    answer."""
    if not lists:
        return []
    found: dict[int, list[dict]] = {}
    for item in items_for_email(merchant=merchant_id, email=email, lists=[lst.pk for lst in lists]).values(
        "list_id", *ITEM_FIELDS
    ):
        found.setdefault(item.pop("list_id"), []).append(item)
    outsiders = [lst for lst in lists if lst.pk not in found]
    evidence = Evidence(merchant_id=merchant_id, email=email, lists=outsiders) if outsiders else None
    answers = []
    for lst in lists:
        items = found.get(lst.pk, [])
        why = None if items else explain(list=lst, items=items, evidence=evidence)
        answers.append(
            {
                "list_id": lst.pk,
                "name": lst.name,
                "member": bool(items),
                "stale": stale_out(lst),
                "item": items[0] if items else None,
                "items": items,
                "reason": why.reason if why else None,
                "reason_code": why.reason_code if why else None,
            }
        )
    return answers
