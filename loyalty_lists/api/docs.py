"""The interactive docs at /api/v1/docs, working offline and under the site's CSP.

ninja's Swagger page loads Swagger UI from a CDN unless ``ninja`` is an installed app; instead the page
here (``templates/api/swagger.html``) loads the copy bundled in the ninja package, served by
``docs_asset`` from a fixed list of files. It has no inline script (the settings travel in a JSON data
block that ninja's ``swagger-ui-init.js`` reads), so ``script-src 'self'`` holds.
"""

import mimetypes
from pathlib import Path

import ninja
from django.http import FileResponse
from django.shortcuts import render
from django.urls import reverse
from ninja.openapi.docs import Swagger

from .errors import error_response

ASSET_DIR = Path(ninja.__file__).parent / "static" / "ninja"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui-init.js", "swagger-ui.css", "favicon.png", "favicon.svg")


class OfflineSwagger(Swagger):
    template = "api/swagger.html"

    def render_page(self, request, api, **kwargs):
        swagger_settings = {**self.settings, "url": self.get_openapi_url(api, kwargs)}
        assets = {
            name.replace("-", "_").replace(".", "_"): reverse("api-docs-asset", args=[name])
            for name in ASSETS
        }
        context = {"swagger_settings": swagger_settings, "api": api, "assets": assets}
        return render(request, self.template, context)


def docs_asset(request, name: str):
    if name not in ASSETS or request.method not in ("GET", "HEAD"):
        return error_response(404, "not_found", "No such docs asset.")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse((ASSET_DIR / name).open("rb"), content_type=content_type)
    response["Cache-Control"] = "public, max-age=86400"
    return response
