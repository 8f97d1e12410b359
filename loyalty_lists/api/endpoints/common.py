"""Helpers shared by the endpoints: responses declared on every operation, scoping, serialisation."""

from loyalty_lists.lists.models import LoyaltyList, VipTier

from ..errors import ApiError
from ..schemas import ErrorOut

# Every operation can answer these (declared so the OpenAPI document — and schemathesis — know them).
ERRORS = {(400, 401, 404, 405, 413, 422, 429): ErrorOut}


def responses(success: dict) -> dict:
    return {**success, **ERRORS}


def merchant_of(request):
    return request.auth.merchant


def list_or_404(request, list_id: int) -> LoyaltyList:
    lst = LoyaltyList.objects.filter(merchant=merchant_of(request), pk=list_id).first()
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


def tier_names(merchant, tier_ids) -> dict[int, str]:
    tier_ids = {t for t in tier_ids if t is not None}
    if not tier_ids:
        return {}
    rows = VipTier.objects.filter(merchant=merchant, smile_id__in=tier_ids).values_list("smile_id", "name")
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
