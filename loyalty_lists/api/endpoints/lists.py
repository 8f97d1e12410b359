"""/api/v1/lists: the list index, one list, create, delete and *sync now*."""

from django.core.exceptions import ValidationError
from ninja import Router
from ninja.responses import Status

from loyalty_lists.lists import services
from loyalty_lists.lists.selectors import lists_for_merchant

from ..errors import ApiError
from ..schemas import ListIn, ListOut, SyncQueuedOut
from .common import ListId, list_or_404, list_out, merchant_id_of, responses, tier_names

router = Router()


@router.get("", response=responses({200: list[ListOut]}), summary="Every list of the merchant")
def lists_index(request):
    merchant_id = merchant_id_of(request)
    lists = list(lists_for_merchant(merchant=merchant_id))
    names = tier_names(merchant_id, (lst.vip_tier_id for lst in lists))
    return [list_out(lst, names) for lst in lists]


@router.post("", response=responses({201: ListOut}, 404, 415, 422), summary="Create a list")
def list_create(request, payload: ListIn):
    """The list is empty until the next sync fills it (one is queued now). A ``vip_tier_id`` that is not
    one of the merchant's live VIP tiers is a 404 naming it, as an unknown list id is in a lookup."""
    try:
        lst = services.list_create(
            merchant=request.auth.merchant,
            name=payload.name,
            audience=payload.audience,
            vip_tier_id=payload.vip_tier_id,
        )
    except ValidationError as exc:
        # The body's shape is checked already (schemas.ListIn): what is left is the tier it names.
        if payload.vip_tier_id is None or "vip_tier_id" not in exc.message_dict:
            raise
        why = " ".join(exc.message_dict["vip_tier_id"])
        raise ApiError(404, f"vip_tier_id: no live VIP tier {payload.vip_tier_id}. {why}") from None
    return Status(201, list_out(lst, tier_names(lst.merchant_id, [lst.vip_tier_id])))


@router.get("/{list_id}", response=responses({200: ListOut}, 404, 422), summary="One list")
def list_detail(request, list_id: int = ListId):
    lst = list_or_404(request, list_id)
    return list_out(lst, tier_names(lst.merchant_id, [lst.vip_tier_id]))


@router.delete("/{list_id}", response=responses({204: None}, 404, 422), summary="Delete a list")
def list_delete(request, list_id: int = ListId):
    services.list_delete(list=list_or_404(request, list_id))
    return Status(204, None)


@router.post("/{list_id}/sync", response=responses({202: SyncQueuedOut}, 404, 422), summary="Sync now")
def list_sync(request, list_id: int = ListId):
    """Queue a sync cycle for the merchant (one cycle refreshes every list). At most one cycle is queued
    at a time: a call while one waits joins it (``already_queued``), so repeated calls queue nothing
    more. A queued cycle waits while another runs and starts when that one ends."""
    list_or_404(request, list_id)
    run, created = services.sync_enqueue(merchant=request.auth.merchant)
    message = (
        "A sync is queued; it refreshes every list of the merchant."
        if created
        else "A sync was already queued; it refreshes every list of the merchant."
    )
    return Status(202, {"queued": True, "run_id": run.pk, "already_queued": not created, "message": message})
