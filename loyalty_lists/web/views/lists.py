"""Lists index, create / edit (with the live tier picker and the preview), delete."""

import logging
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from integrations.smile import services as smile
from integrations.smile.errors import SmileError
from integrations.smile.selectors import connection_status
from loyalty_lists.lists import services
from loyalty_lists.lists.models import Audience, LoyaltyList, SyncRun, VipTier
from loyalty_lists.lists.selectors import latest_cycle_run, lists_for_merchant
from loyalty_lists.merchants.scoping import get_for_merchant_or_404

from ..decorators import merchant_page
from ..forms import ListForm
from ..progress import sync_progress
from ..selectors import list_preview, pending_holds

logger = logging.getLogger(__name__)

TIERS_FRESH_FOR = timedelta(minutes=1)


def tier_names(merchant) -> dict[int, VipTier]:
    return {t.smile_id: t for t in VipTier.objects.for_merchant(merchant)}


@merchant_page
@require_GET
def list_index(request):
    merchant = request.merchant
    lists = list(lists_for_merchant(merchant=merchant))
    held = set(pending_holds(merchant=merchant).values_list("list_id", flat=True))
    tiers = tier_names(merchant) if any(lst.vip_tier_id for lst in lists) else {}
    rows = [(lst, tiers.get(lst.vip_tier_id), lst.pk in held) for lst in lists]
    context = {
        "rows": rows,
        "status": connection_status(merchant),
        "sync": sync_progress(merchant=merchant),
    }
    return render(request, "web/lists/index.html", context)


def refresh_tiers(merchant) -> str:
    """Load the tier list live from Smile for the tier picker (unless the stored one is fresh or a
    cycle, which loads it anyway, is running). Returns a warning to show, or ""."""
    newest = VipTier.objects.for_merchant(merchant).aggregate(newest=Max("last_seen_at"))["newest"]
    if newest is not None and timezone.now() - newest < TIERS_FRESH_FOR:
        return ""
    run = latest_cycle_run(merchant=merchant)
    if run is not None and run.status == SyncRun.Status.RUNNING:
        return ""
    try:
        with smile.client_for_merchant(merchant, max_attempts=2, timeout=10) as client:
            changes = services.vip_tiers_refresh(merchant=merchant, client=client)
    except SmileError as exc:
        logger.warning("Could not refresh the VIP tiers of merchant %s: %s", merchant.pk, exc)
        return f"Could not load the VIP tiers from Smile ({exc}); showing the tiers of the last sync."
    if changes.unavailable:
        return (
            "Your Smile program has no VIP tiers this app can read (VIP is a paid Smile plan feature; Smile"
            f" answered: {changes.unavailable}). Member lists work; tier lists are unavailable."
        )
    return ""


def _form_tiers(merchant, lst: LoyaltyList | None):
    tiers = VipTier.objects.for_merchant(merchant).order_by("milestone", "smile_id")
    if lst is not None and lst.vip_tier_id is not None:
        return [t for t in tiers if t.exists_in_smile or t.smile_id == lst.vip_tier_id]
    return [t for t in tiers if t.exists_in_smile]


def _form_page(request, *, lst: LoyaltyList | None):
    merchant = request.merchant
    status = connection_status(merchant)
    tiers_warning = ""
    if request.method == "GET" and status.is_connected:
        tiers_warning = refresh_tiers(merchant)
    if lst is None:
        initial = {"source": "smile", "audience": Audience.ALL_MEMBERS}
    else:
        initial = {"source": "smile", "name": lst.name, "audience": lst.audience, "vip_tier": lst.vip_tier_id}
    tiers = _form_tiers(merchant, lst)
    form = ListForm(request.POST or None, tiers=tiers, initial=initial)
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if "preview" in request.POST:
            preview = list_preview(merchant=merchant, audience=data["audience"], vip_tier_id=data["vip_tier"])
        else:
            try:
                if lst is None:
                    saved = services.list_create(
                        merchant=merchant,
                        name=data["name"],
                        audience=data["audience"],
                        vip_tier_id=data["vip_tier"],
                        created_by=request.user,
                    )
                    rule_changed = True
                else:
                    rule_changed = (data["audience"], data["vip_tier"]) != (lst.audience, lst.vip_tier_id)
                    saved = services.list_update(
                        list=lst, name=data["name"], audience=data["audience"], vip_tier_id=data["vip_tier"]
                    )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                verb = "Created" if lst is None else "Saved"
                if rule_changed:
                    messages.success(request, f"{verb} “{saved.name}”. A sync was queued to fill it.")
                else:
                    messages.success(request, f"{verb} “{saved.name}”.")
                return redirect("web:list_detail", saved.pk)
    context = {
        "form": form,
        "list": lst,
        "status": status,
        "tiers_warning": tiers_warning,
        "preview": preview,
    }
    return render(request, "web/lists/form.html", context)


@merchant_page
@require_http_methods(["GET", "POST"])
def list_create(request):
    return _form_page(request, lst=None)


@merchant_page
@require_http_methods(["GET", "POST"])
def list_edit(request, pk):
    lst = get_for_merchant_or_404(LoyaltyList, request.merchant, pk=pk)
    return _form_page(request, lst=lst)


@merchant_page
@require_GET
def list_preview_partial(request):
    """htmx: the preview of the rule being edited (``audience``, ``vip_tier`` in the query string)."""
    audience = request.GET.get("audience", "")
    tier_value = request.GET.get("vip_tier", "")
    context = {"preview": None, "message": ""}
    if audience not in Audience.values:
        context["message"] = "Choose an audience to see who would be in the list."
    elif audience == Audience.VIP_TIER and not tier_value.isdigit():
        context["message"] = "Choose a VIP tier to see who would be in the list."
    else:
        tier = int(tier_value) if audience == Audience.VIP_TIER else None
        context["preview"] = list_preview(merchant=request.merchant, audience=audience, vip_tier_id=tier)
    return render(request, "web/lists/_preview.html", context)


@merchant_page
@require_http_methods(["GET", "POST"])
def list_delete(request, pk):
    lst = get_for_merchant_or_404(LoyaltyList, request.merchant, pk=pk)
    if request.method == "POST":
        name = lst.name
        services.list_delete(list=lst)
        messages.success(request, f"Deleted the list “{name}”.")
        return redirect("web:list_index")
    return render(request, "web/lists/delete.html", {"list": lst})
