"""One list: its items (search, filter, sort, keyset pages), CSV export, chart, stale and held banners."""

import csv
import re
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from loyalty_lists.lists import services
from loyalty_lists.lists.membership import describe
from loyalty_lists.lists.models import ListItem, LoyaltyList, SyncRunList, VipTier
from loyalty_lists.merchants.scoping import get_for_merchant_or_404

from ..chart import member_count_chart
from ..decorators import merchant_page, merchant_zone
from ..forms import ItemFilterForm
from ..paging import InvalidCursor
from ..progress import sync_progress
from ..selectors import list_items_page, list_size_history, pending_holds

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


@merchant_page
@require_GET
def list_detail(request, pk):
    merchant = request.merchant
    lst = get_for_merchant_or_404(LoyaltyList, merchant, pk=pk)
    tiers = list(VipTier.objects.for_merchant(merchant).order_by("milestone", "smile_id"))
    tier = next((t for t in tiers if t.smile_id == lst.vip_tier_id), None)
    form = ItemFilterForm(request.GET, tiers=tiers)
    filters, sort = form.filters(), form.sort_key()
    cursor_error = False
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
    context = {
        "list": lst,
        "tier": tier,
        "rule": describe(lst.audience, tier.name if tier else None),
        "form": form,
        "filtered": any(filters.values()),
        "page": page,
        "cursor_error": cursor_error,
        "holds": list(pending_holds(merchant=merchant, list=lst)),
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


def export_rows(lst: LoyaltyList, zone):
    """Header, then every item of the list by id, read with one streaming query (one consistent
    snapshot of the list, even while a sync publishes)."""

    def when(value: datetime | None) -> str:
        return value.astimezone(zone).isoformat(timespec="seconds") if value else ""

    yield CSV_COLUMNS
    items = ListItem.objects.filter(merchant_id=lst.merchant_id, list=lst).order_by("id")
    for item in items.iterator(chunk_size=EXPORT_BATCH):
        yield (
            csv_safe(item.email),
            item.points_balance,
            csv_safe(item.vip_tier_name),
            when(item.vip_tier_expires_at),
            csv_safe(item.state),
            when(item.loyalty_member_since),
            item.smile_customer_id,
            when(item.added_at),
        )


def export_filename(lst: LoyaltyList) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", lst.name.lower()).strip("-") or f"list-{lst.pk}"
    return f"{slug[:60]}-{timezone.localdate():%Y-%m-%d}.csv"


@merchant_page
@require_GET
def list_export(request, pk):
    lst = get_for_merchant_or_404(LoyaltyList, request.merchant, pk=pk)
    writer = csv.writer(_Echo())
    rows = export_rows(lst, merchant_zone(request.merchant))
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{export_filename(lst)}"'
    response["Cache-Control"] = "no-store"
    return response


# --- held runs -------------------------------------------------------------------------------------------
def _decide(request, pk, run_list_id, decide, done: str):
    lst = get_for_merchant_or_404(LoyaltyList, request.merchant, pk=pk)
    held = get_for_merchant_or_404(SyncRunList, request.merchant, pk=run_list_id, list=lst)
    try:
        decide(run_list=held, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done)
    return redirect("web:list_detail", lst.pk)


@merchant_page
@require_POST
def held_approve(request, pk, run_list_id):
    return _decide(
        request, pk, run_list_id, services.held_run_approve, "Approved: the held changes are published."
    )


@merchant_page
@require_POST
def held_discard(request, pk, run_list_id):
    return _decide(
        request,
        pk,
        run_list_id,
        services.held_run_discard,
        "Discarded: the list stays as it is; the next sync checks it again.",
    )
