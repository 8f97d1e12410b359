"""Optional: activate the signed-in merchant's time zone for every request (also pages outside
``loyalty_lists.web``, e.g. the Smile connection page). Goes after ``CurrentMerchantMiddleware``."""

from django.utils import timezone

from .decorators import merchant_zone


class MerchantTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        merchant = getattr(request, "merchant", None)
        if merchant is None:
            return self.get_response(request)
        with timezone.override(merchant_zone(merchant)):
            return self.get_response(request)
