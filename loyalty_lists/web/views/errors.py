"""The 404 and 500 pages in the app layout (``handler404`` / ``handler500`` in ``loyalty_lists/urls.py``).

A 404 renders with the request's context: a signed-in merchant keeps the navigation. A 500 renders with
none of it (no session, user or merchant lookups): whatever failed, the database among others, must not
fail the error page as well. Under ``/api/`` a 500 answers the API's JSON error instead.
"""

import logging

from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template import loader

from loyalty_lists.api.errors import error_response

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


def page_not_found(request, exception=None):
    return render(request, "404.html", {"path": request.path}, status=404)


def server_error(request):
    if request.path.startswith(API_PREFIX):
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")
    return HttpResponseServerError(loader.get_template("500.html").render({}))
