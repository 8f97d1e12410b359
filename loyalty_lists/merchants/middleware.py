from .scoping import resolve_current_merchant


class CurrentMerchantMiddleware:
    """Sets ``request.merchant``: the signed-in staff member's merchant, or None.

    Anonymous requests (including API-key calls to /api/) cost no query here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.merchant = resolve_current_merchant(request)
        return self.get_response(request)
