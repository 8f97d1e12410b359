"""/api/: the v1 API (ninja), its docs assets, and a JSON 404 for everything else under /api/."""

from django.urls import URLPattern, include, path, re_path

from .api import api
from .docs import docs_asset
from .errors import json_method_not_allowed, not_found

_patterns, _app_name, _namespace = api.urls
_patterns = [
    URLPattern(p.pattern, json_method_not_allowed(p.callback), p.default_args, p.name)
    if isinstance(p, URLPattern)
    else p
    for p in _patterns
]

urlpatterns = [
    path("v1/docs/assets/<str:name>", docs_asset, name="api-docs-asset"),
    path("v1/", include((_patterns, _app_name), namespace=_namespace)),
    re_path(r"^", not_found, name="api-not-found"),
]
