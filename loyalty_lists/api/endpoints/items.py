"""/api/v1/lists/{list_id}/items (keyset pages) and /api/v1/lists/{list_id}/members/{email}."""

from typing import Annotated

from ninja import Path, Query, Router

from loyalty_lists.lists.models import ListItem
from loyalty_lists.lists.selectors import lists_as_of

from .. import cursors
from ..errors import ApiError
from ..schemas import (
    EMAIL_RULE,
    INT64_MAX,
    EmailParam,
    ItemCursor,
    ItemPage,
    MembershipOut,
    StateName,
    clean_email,
)
from .common import ITEM_FIELDS, ListId, list_answers, list_or_404, responses

router = Router()


def _email_or_422(value: str, *, location: str) -> str:
    """The email rule on a query or path parameter (a 422 naming it, as for a body field)."""
    try:
        return clean_email(value)
    except ValueError as exc:
        detail = {"field": "email", "location": location, "message": str(exc), "type": "value_error"}
        raise ApiError(422, f"email: {exc}", details=[detail]) from None


@router.get(
    "/{list_id}/items",
    response=responses({200: ItemPage}, 404, 422),
    summary="A page of a list's items",
)
def list_items(
    request,
    list_id: int = ListId,
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page (1–500).", example=100)] = 100,
    cursor: Annotated[
        ItemCursor | None,
        Query(description="The previous page's next_cursor (anything else is a 400).", example="1042"),
    ] = None,
    email: Annotated[
        EmailParam | None,
        Query(description=f"Only items with this email. {EMAIL_RULE}", example="ann@example.com"),
    ] = None,
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
        items = items.filter(id__gt=cursors.item_position(cursor))
    rows = list(items.order_by("id").values("id", *ITEM_FIELDS)[: limit + 1])
    next_cursor = cursors.item_cursor(rows[limit - 1]["id"]) if len(rows) > limit else None
    return {"items": rows[:limit], "next_cursor": next_cursor}


@router.get(
    "/{list_id}/members/{path:email}",
    response=responses({200: MembershipOut}, 404, 422),
    summary="Is this email in the list?",
)
def list_member(
    request,
    email: Annotated[EmailParam, Path(description=EMAIL_RULE, example="ann@example.com")],
    list_id: int = ListId,
):
    """Always 200 for an existing list: ``member`` is the answer, and for a non-member ``reason_code`` /
    ``reason`` say why (not in Smile, disabled, a candidate, another tier, not yet synced…). An unknown
    list is a 404 before a bad email is a 422."""
    lst = list_or_404(request, list_id)
    normalized = _email_or_422(email, location="path")
    (answer,) = list_answers(merchant_id=lst.merchant_id, email=normalized, lists=[lst])
    return {**answer, "email": normalized, "as_of": lists_as_of(merchant_id=lst.merchant_id)}
