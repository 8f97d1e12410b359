"""Sync history, one run's changes, the self-updating progress partial and *Sync now*."""

from django.contrib import messages
from django.db.models import Prefetch
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from integrations.smile.selectors import connection_status
from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListChange, ListRunResult, SyncRun
from loyalty_lists.lists.selectors import sync_runs_for_merchant
from loyalty_lists.merchants.scoping import get_for_merchant_or_404

from ..decorators import merchant_page
from ..paging import InvalidCursor, Ordering, keyset_page
from ..progress import sync_progress
from .common import redirect_back

RUNS_PER_PAGE = 25
CHANGES_PER_PAGE = 100
RUN_ORDER = Ordering("started_at", descending=True, tag="runs")
CHANGE_ORDER = Ordering("id", tag="changes")


def _page(qs, ordering, request, limit):
    try:
        return keyset_page(
            qs, ordering, after=request.GET.get("after"), before=request.GET.get("before"), limit=limit
        )
    except InvalidCursor:
        return keyset_page(qs, ordering, limit=limit)


@merchant_page
@require_GET
def run_index(request):
    kind = request.GET.get("kind", "")
    kinds = [kind] if kind in SyncRun.Kind.values else None
    results = ListRunResult.objects.select_related("list", "decided_by").order_by("list__name", "list_id")
    runs = sync_runs_for_merchant(merchant=request.merchant, kinds=kinds).prefetch_related(
        Prefetch("list_results", queryset=results)
    )
    context = {
        "page": _page(runs, RUN_ORDER, request, RUNS_PER_PAGE),
        "kind": kind if kinds else "",
        "kinds": SyncRun.Kind.choices,
        "sync": sync_progress(merchant=request.merchant),
    }
    return render(request, "web/runs/index.html", context)


@merchant_page
@require_GET
def run_detail(request, pk):
    run = get_for_merchant_or_404(SyncRun, request.merchant, pk=pk)
    results = list(run.list_results.select_related("list", "decided_by").order_by("list__name", "list_id"))
    changes = ListChange.objects.filter(merchant_id=run.merchant_id, run=run).select_related("list")
    list_filter = request.GET.get("list", "")
    if list_filter.isdigit():
        changes = changes.filter(list_id=int(list_filter))
    kind_filter = request.GET.get("change", "")
    if kind_filter in ListChange.Kind.values:
        changes = changes.filter(kind=kind_filter)
    context = {
        "run": run,
        "results": results,
        "page": _page(changes, CHANGE_ORDER, request, CHANGES_PER_PAGE),
        "list_filter": list_filter,
        "kind_filter": kind_filter,
        "change_kinds": [c for c in ListChange.Kind.choices if c[0] in ListChange.MEMBERSHIP_KINDS],
    }
    return render(request, "web/runs/detail.html", context)


@merchant_page
@require_GET
def sync_progress_partial(request):
    """htmx: the progress bar. Polls itself while a run is queued or running; once a watched run has
    finished, pages that asked for it (``refresh=1``) reload to show the new numbers."""
    sync = sync_progress(merchant=request.merchant)
    refresh = request.GET.get("refresh") == "1"
    response = render(request, "web/runs/_progress.html", {"sync": sync, "refresh": refresh})
    if request.htmx and refresh and request.GET.get("watching") == "1" and not sync.polling:
        response["HX-Refresh"] = "true"
    return response


@merchant_page
@require_POST
def sync_now(request):
    status = connection_status(request.merchant)
    if not status.is_connected:
        if status.needs_reconnect:
            messages.error(request, "Reconnect Smile first: it no longer accepts the stored credentials.")
        else:
            messages.error(request, "Connect Smile first.")
    else:
        _run, created = services.sync_enqueue(merchant=request.merchant)
        messages.success(request, "Sync queued." if created else "A sync is already queued; it covers this.")
    return redirect_back(request, "web:run_index")
