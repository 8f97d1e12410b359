from django.shortcuts import render
from django.views.decorators.http import require_GET

from integrations.smile.selectors import connection_status
from loyalty_lists.lists.selectors import lists_for_merchant

from ..decorators import merchant_page
from ..progress import sync_progress
from ..selectors import pending_holds


@merchant_page
@require_GET
def home(request):
    """A small dashboard: connection, lists needing attention, the latest sync."""
    merchant = request.merchant
    lists = list(lists_for_merchant(merchant=merchant))
    holds = list(pending_holds(merchant=merchant).select_related("list"))
    context = {
        "status": connection_status(merchant),
        "lists": lists,
        "stale_lists": [lst for lst in lists if lst.is_stale],
        "holds": holds,
        "sync": sync_progress(merchant=merchant),
    }
    return render(request, "web/home.html", context)
