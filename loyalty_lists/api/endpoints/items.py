"""/api/v1/lists/{list_id}/items (keyset pages) and /api/v1/lists/{list_id}/members/{email}."""

from typing import Annotated

from ninja import Path, Query, Router

from loyalty_lists.lists.models import ListItem

from .. import cursors
from ..errors import ApiError
from ..lookup import ITEM_FIELDS, explain_outsiders, lists_with_items
from ..schemas import INT64_MAX, ItemPage, MembershipOut, StateName, clean_email
from .common import list_or_404, responses, stale_out

router = Router()
ListId = Path(..., ge=1, le=INT64_MAX, description="The list's id.")


def _email_or_422(value: str, *, location: str) -> str:
    try:
        return clean_email(value)
    except ValueError as exc:
        detail = {"field": "email", "location": location, "message": str(exc), "type": "value_error"}
        raise ApiError(422, f"email: {exc}", details=[detail]) from None


@router.get("/{list_id}/items", response=responses({200: ItemPage}), summary="A page of a list's items")
def list_items(
    request,
    list_id: int = ListId,
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page (1–500).")] = 100,
    cursor: Annotated[str | None, Query(description="The previous page's next_cursor.")] = None,
    email: Annotated[str | None, Query(max_length=1000, description="Only items with this email.")] = None,
    state: Annotated[StateName | None, Query(description="Only items in this Smile state.")] = None,
    vip_tier_id: Annotated[
        int | None, Query(ge=1, le=INT64_MAX, description="Only items in this VIP tier.")
    ] = None,
):
    """Items in a stable order (by item id), ``limit`` at a time; follow ``next_cursor`` until it is null.
    Paging is keyset-based: a page costs the same at any depth and no item is skipped or repeated because
    of a sync publishing between two pages (items it adds or removes meanwhile may or may not appear)."""
    lst = list_or_404(request, list_id)
    items = ListItem.objects.filter(merchant_id=lst.merchant_id, list=lst)
    if email is not None:
        items = items.filter(email=_email_or_422(email, location="query"))
    if state is not None:
        items = items.filter(state=state)
    if vip_tier_id is not None:
        items = items.filter(vip_tier_id=vip_tier_id)
    if cursor is not None:
        (after,) = cursors.decode(cursor, int)
        items = items.filter(id__gt=after)
    rows = list(items.order_by("id").values("id", *ITEM_FIELDS)[: limit + 1])
    next_cursor = cursors.encode(rows[limit - 1]["id"]) if len(rows) > limit else None
    return {"items": rows[:limit], "next_cursor": next_cursor}


@router.get(
    "/{list_id}/members/{path:email}",
    response=responses({200: MembershipOut}),
    summary="Is this email in the list?",
)
def list_member(request, email: str, list_id: int = ListId):
    """Always 200 for an existing list: ``member`` is the answer, and for a non-member ``reason_code`` /
    ``reason`` say why (not in Smile, disabled, a candidate, another tier, not yet synced…)."""
    merchant_id = request.auth.merchant_id
    try:
        normalized = _email_or_422(email, location="path")
    except ApiError:
        list_or_404(request, list_id)  # an unknown list is a 404 before a bad email is a 422
        raise
    found, as_of = lists_with_items(merchant_id=merchant_id, email=normalized, ids=[list_id])
    result = found.get(list_id)
    if result is None:
        raise ApiError(404, f"No list with id {list_id}.")
    explain_outsiders(merchant_id=merchant_id, results=[result], email=normalized)
    lst = result.list
    return {
        "list_id": lst.pk,
        "email": normalized,
        "member": result.member,
        "item": result.items[0] if result.items else None,
        "items": result.items,
        "as_of": as_of,
        "stale": stale_out(lst),
        "reason": result.reason,
        "reason_code": result.reason_code,
    }
