"""One list: its items (search, filter, sort, keyset pages with their position and count), the CSV export of
exactly what the page shows, chart, stale and held banners, held runs decided."""

import csv
import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from loyalty_lists.lists import services
from loyalty_lists.lists.membership import describe
from loyalty_lists.lists.models import ListRunResult, LoyaltyList
from loyalty_lists.merchants.scoping import get_for_merchant_or_404

from ..chart import member_count_chart
from ..decorators import merchant_page
from ..forms import ItemFilterForm
from ..paging import InvalidCursor
from ..progress import sync_progress
from ..selectors import (
    list_holds,
    list_items_count,
    list_items_export,
    list_items_page,
    list_size_history,
    tier_filter_options,
    tiers_by_id,
)
from ..templatetags.loyalty_web import iso_utc

PAGE_SIZE = 50
EXPORT_BATCH = 2000
CSV_COLUMNS = (
    "email",
    "points_balance",
    "vip_tier_name",
    "vip_tier_expires_at",
    "state",
    "loyalty_member_since",
    "smile_customer_id",
    "added_at",
)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _start(request) -> int:
    """The position of the page's first row (carried in the links: keyset pages do not know it)."""
    value = request.GET.get("start", "")
    return int(value) if value.isdigit() and 0 < int(value) < 10**9 else 1


@merchant_page
@require_GET
def list_detail(request, pk):
    merchant = request.merchant
    lst = get_for_merchant_or_404(LoyaltyList, merchant, pk=pk)
    tiers = tiers_by_id(merchant=merchant)
    tier = tiers.get(lst.vip_tier_id)
    form = ItemFilterForm(request.GET, tiers=tier_filter_options(list=lst, tiers=tiers))
    filters, sort = form.filters(), form.sort_key()
    cursor_error = False
    start = _start(request)
    try:
        page = list_items_page(
            list=lst,
            sort=sort,
            after=request.GET.get("after"),
            before=request.GET.get("before"),
            limit=PAGE_SIZE,
            **filters,
        )
    except InvalidCursor:
        cursor_error = True
        page = list_items_page(list=lst, sort=sort, limit=PAGE_SIZE, **filters)
    if not page.prev_cursor or cursor_error:
        start = 1
    if page.has_other_pages:
        total, capped = list_items_count(list=lst, **filters)
    else:  # one page holds every match: no count query (a search that finds little scans the list once)
        total, capped = len(page.items), False
    export_query = {k: v for k, v in request.GET.items() if v and k not in ("after", "before", "start")}
    export_url = reverse("web:list_export", args=[lst.pk])
    if export_query:
        export_url += "?" + urlencode(export_query)
    holds = list_holds(list=lst)
    pending = [h for h in holds if h.decision == ListRunResult.Decision.PENDING]
    context = {
        "list": lst,
        "tier": tier,
        "rule": describe(lst.audience, tier.name if tier else None),
        "form": form,
        "filtered": any(filters.values()),
        "page": page,
        "first": start,
        "last": start + len(page.items) - 1,
        "next_start": start + len(page.items),
        "prev_start": max(1, start - PAGE_SIZE),
        "total": total,
        "export_url": export_url,
        "capped": capped,
        "cursor_error": cursor_error,
        "holds": pending,
        "decided_holds": [h for h in holds if h.decision != ListRunResult.Decision.PENDING][:5],
        "chart": member_count_chart(list_size_history(list=lst)),
        "sync": sync_progress(merchant=merchant) if lst.published_seq == 0 else None,
    }
    return render(request, "web/lists/detail.html", context)


# --- CSV export ------------------------------------------------------------------------------------------
class _Echo:
    def write(self, value):
        return value


def csv_safe(value) -> str:
    """A cell a spreadsheet will not run as a formula ("=HYPERLINK(...)" becomes "'=HYPERLINK(...)")."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def export_rows(items):
    """Header, then the items, read with one streaming query (one consistent snapshot of the list, even
    while a sync publishes), as plain tuples (no model per row: half the time at 1M rows, figure 7). Times
    are ISO 8601 in UTC with ``Z``, like the API's."""
    yield CSV_COLUMNS
    for email, points, tier, expires, state, since, customer, added in items.values_list(
        *CSV_COLUMNS
    ).iterator(chunk_size=EXPORT_BATCH):
        yield (
            csv_safe(email),
            points,
            csv_safe(tier),
            iso_utc(expires) if expires else "",
            csv_safe(state),
            iso_utc(since) if since else "",
            customer,
            iso_utc(added) if added else "",
        )


def export_filename(lst: LoyaltyList) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", lst.name.lower()).strip("-") or f"list-{lst.pk}"
    return f"{slug[:60]}-{timezone.localdate():%Y-%m-%d}.csv"


@merchant_page
@require_GET
def list_export(request, pk):
    """What the list page shows with the same query string (search, filters, sort), every page of it."""
    lst = get_for_merchant_or_404(LoyaltyList, request.merchant, pk=pk)
    tiers = tiers_by_id(merchant=request.merchant)
    form = ItemFilterForm(request.GET, tiers=tier_filter_options(list=lst, tiers=tiers))
    items = list_items_export(list=lst, sort=form.sort_key(), **form.filters())
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in export_rows(items)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{export_filename(lst)}"'
    response["Cache-Control"] = "no-store"
    return response


# --- held runs -------------------------------------------------------------------------------------------
def _decide(request, pk, result_id, decide, done: str):
    lst = get_for_merchant_or_404(LoyaltyList, request.merchant, pk=pk)
    held = get_for_merchant_or_404(ListRunResult, request.merchant, pk=result_id, list=lst)
    try:
        decide(result=held, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done)
    return redirect("web:list_detail", lst.pk)


@merchant_page
@require_POST
def held_approve(request, pk, result_id):
    return _decide(
        request, pk, result_id, services.held_run_approve, "Approved: the held changes are published."
    )


@merchant_page
@require_POST
def held_discard(request, pk, result_id):
    return _decide(
        request,
        pk,
        result_id,
        services.held_run_discard,
        "Discarded: the list stays as it is; the next sync checks it again.",
    )
