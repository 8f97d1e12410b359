"""GET /api/v1/changes: the merchant's change feed, in commit order, behind a durable cursor
(``loyalty_lists/outbound/feed.py`` says why the cursor is sound)."""

from typing import Annotated

from django.conf import settings
from ninja import Query, Router

from loyalty_lists.lists.models import LoyaltyList
from loyalty_lists.outbound.feed import CursorExpired, event_out, feed_horizon, feed_latest, feed_page

from .. import cursors
from ..errors import ApiError
from ..feed_schemas import ChangeKind, ChangePage, FeedCursor, FeedPositionOut
from ..schemas import INT64_MAX
from .common import merchant_id_of, responses

router = Router()

FEED_DESCRIPTION = """\
Every change of the merchant's lists, oldest first, in the order it was committed: membership changes
(`joined`, `left`, `tier_up`, `tier_down`, `metadata_changed`; a new list's first sync is every member
`joined`) and list events (`list_stale`, `list_recovered`, `list_held`, `list_approved`,
`list_discarded`, `list_deleted`). Webhook deliveries carry the same objects.

**Cursors are durable**: store `next_cursor` and pass it back as `after`; a change committed later always
comes after it, so a consumer that follows the cursor from the start (no `after`) rebuilds every list
exactly — apply `joined` (add the shopper with its email and tier), `left` (remove it), tier moves and
`metadata_changed` (set the new email and tier), `list_deleted` (drop the list).

**Retention**: changes older than the retention (30 days unless configured) are removed. A cursor from
before them gets **410** (`cursor_expired`), never a silent gap: start again from
`GET /changes/position` and the lists' items (`GET /lists/{list_id}/items`), then follow the feed from
that position (applying a change twice is harmless: every change says what the item is now).

Example consumer loop:

```python
cursor = load_cursor()            # None the first time
while True:
    page = get("/api/v1/changes", params={"after": cursor, "limit": 500} if cursor else {"limit": 500})
    for change in page["items"]:
        apply(change)
    cursor = page["next_cursor"]
    save_cursor(cursor)           # after applying: at-least-once
    if not page["has_more"]:
        sleep(30)
```
"""


@router.get(
    "",
    response=responses({200: ChangePage}, 404, 410, 422),
    summary="The change feed",
    description=FEED_DESCRIPTION,
)
def changes(
    request,
    after: Annotated[
        FeedCursor | None,
        Query(description="A next_cursor from an earlier page (absent: from the start).", example="88212"),
    ] = None,
    list_id: Annotated[
        int | None, Query(ge=1, le=INT64_MAX, description="Only this list's changes (404 if not yours).")
    ] = None,
    kinds: Annotated[
        list[ChangeKind] | None, Query(description="Only these kinds (repeat the parameter).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Changes per page (1–1000).", example=100)] = 100,
):
    merchant_id = merchant_id_of(request)
    position = cursors.number_position(after) if after is not None else 0
    if list_id is not None and not LoyaltyList.objects.filter(merchant_id=merchant_id, pk=list_id).exists():
        raise ApiError(404, f"No list with id {list_id}.")
    try:
        rows, next_cursor, has_more = feed_page(
            merchant_id=merchant_id,
            after=position,
            limit=limit,
            list_ids=[list_id] if list_id is not None else None,
            kinds=kinds,
        )
    except CursorExpired as exc:
        days = settings.CHANGE_FEED_RETENTION_DAYS
        raise ApiError(
            410,
            f"Changes up to {exc.horizon} were removed (they are kept {days} days), so the feed cannot "
            "continue from this cursor without a gap. Start again: GET /api/v1/changes/position, read the "
            "lists' items, then follow the feed from that position.",
            code="cursor_expired",
        ) from None
    return {"items": [event_out(row) for row in rows], "next_cursor": str(next_cursor), "has_more": has_more}


@router.get("/position", response=responses({200: FeedPositionOut}), summary="Where the feed is now")
def changes_position(request):
    """The feed's current end, to start following it from now (after reading the lists' items)."""
    merchant_id = merchant_id_of(request)
    horizon = feed_horizon(merchant_id)
    return {"cursor": str(max(feed_latest(merchant_id), horizon)), "oldest_cursor": str(horizon)}
