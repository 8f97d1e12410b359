"""Request latency by route, for ``/metrics`` (``loyalty_lists_request_duration_seconds{route}``).

First in the middleware stack, so the time is the whole stack's (the lookup's latency is
``route="api-v1:lookup"``). The route is the URL's name, a bounded set; a request no URL matched is
``unmatched``. Observing costs a few microseconds (a write to the process's metrics file).
"""

import time

from loyalty_lists.metrics import REQUEST_SECONDS


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.view_name or "unnamed") if match is not None else "unmatched"
        REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
        return response
