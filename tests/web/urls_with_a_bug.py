"""The project's URLs plus one view with a bug, for the 500 page's tests (``settings.ROOT_URLCONF``)."""

from django.urls import path

from loyalty_lists.urls import handler404, handler500  # noqa: F401
from loyalty_lists.urls import urlpatterns as project_urls

BUG_PATH = "/a-page-with-a-bug/"


def a_page_with_a_bug(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [path(BUG_PATH.strip("/") + "/", a_page_with_a_bug), *project_urls]
