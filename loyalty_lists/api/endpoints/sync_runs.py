"""GET /api/v1/sync-runs: the merchant's sync history, newest first, keyset-paged."""

from typing import Annotated

from django.db.models import Q
from ninja import Query, Router

from loyalty_lists.lists.selectors import sync_runs_for_merchant

from .. import cursors
from ..schemas import RunCursor, SyncRunPage
from .common import merchant_id_of, responses

router = Router()


def _run_out(run) -> dict:
    return {
        "id": run.pk,
        "kind": run.kind,
        "status": run.status,
        "queued_at": run.queued_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "customers_fetched": run.customers_fetched,
        "lists_published": run.lists_published,
        "items_added": run.items_added,
        "items_removed": run.items_removed,
        "items_changed": run.items_changed,
        "customers_gone": run.customers_gone,
        "error": run.error_message or None,
    }


@router.get("", response=responses({200: SyncRunPage}, 422), summary="Sync runs, newest first")
def sync_runs(
    request,
    limit: Annotated[int, Query(ge=1, le=500, description="Runs per page (1–500).", example=20)] = 50,
    cursor: Annotated[
        RunCursor | None,
        Query(
            description="The previous page's next_cursor (anything else is a 400).",
            example="1796585400000000-311",
        ),
    ] = None,
):
    runs = sync_runs_for_merchant(merchant=merchant_id_of(request))
    if cursor is not None:
        started_at, run_id = cursors.run_position(cursor)
        runs = runs.filter(Q(started_at__lt=started_at) | Q(started_at=started_at, pk__lt=run_id))
    rows = list(runs[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = cursors.run_cursor(last.started_at, last.pk)
    return {"items": [_run_out(run) for run in rows[:limit]], "next_cursor": next_cursor}
