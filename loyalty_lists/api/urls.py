"""/api/: the v1 API (ninja), its docs page and assets, and a JSON 404 for everything else under /api/.

Every answer of the API (not the docs page, which is a page for browsers and takes the site's CSP) is
JSON and carries the headers a JSON API should: ``Content-Security-Policy: default-src 'none';
frame-ancestors 'none'`` and ``X-Frame-Options: DENY``; a 405 from ninja (plain text) answers the JSON
error envelope with ``Allow``. Calls go through Django's whole middleware stack like any request.
"""

from functools import wraps

from django.urls import URLPattern, include, path, re_path

from .api import api
from .docs import docs_asset
from .errors import error_response, not_found

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
PAGES = ("openapi-view",)  # the docs page


def api_answer(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            allow = response.get("Allow", "")
            response = error_response(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; allowed: {allow or 'none'}.",
                headers={"Allow": allow},
            )
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return wrapper


_patterns, _app_name, _namespace = api.urls
_patterns = [
    URLPattern(p.pattern, api_answer(p.callback), p.default_args, p.name)
    if isinstance(p, URLPattern) and p.name not in PAGES
    else p
    for p in _patterns
]

urlpatterns = [
    path("v1/docs/assets/<str:name>", docs_asset, name="api-docs-asset"),
    path("v1/", include((_patterns, _app_name), namespace=_namespace)),
    re_path(r"^", api_answer(not_found), name="api-not-found"),
]
