"""The one decorator every admin page uses: signed in, scoped to a merchant, in the merchant's time zone."""

import zoneinfo
from functools import wraps

from django.utils import timezone

from loyalty_lists.merchants.scoping import merchant_required


def merchant_zone(merchant) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(merchant.timezone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def merchant_page(view):
    """``merchant_required`` plus: times render in ``request.merchant.timezone`` (the view renders inside
    the override; streamed responses convert times themselves)."""

    @merchant_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        with timezone.override(merchant_zone(request.merchant)):
            return view(request, *args, **kwargs)

    return wrapper
