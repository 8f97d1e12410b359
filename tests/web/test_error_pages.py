"""404 and 500 in the app layout; the API docs link back to the admin pages."""

import pytest

from .urls_with_a_bug import BUG_PATH

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_a_404_in_the_app_layout_with_the_navigation(staff):
    response = staff.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "This page does not exist" in html and "<code>/no-such-page/</code>" in html
    assert 'aria-label="Main"' in html and 'href="/lists/"' in html  # the app's navigation
    assert '<link rel="stylesheet" href="/static/css/app.css">' in html


def test_another_merchants_list_is_the_same_styled_404(staff, other_merchant):
    from .conftest import make_list

    lst = make_list(other_merchant, "Theirs")
    response = staff.get(f"/lists/{lst.pk}/")
    assert response.status_code == 404 and "This page does not exist" in response.content.decode()
    assert "Theirs" not in response.content.decode()


def test_a_visitor_who_is_not_signed_in_gets_the_404_with_a_sign_in_link(client):
    response = client.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404 and 'href="/accounts/login/"' in html
    assert 'aria-label="Main"' not in html


def test_unknown_api_paths_still_answer_json(client):
    response = client.get("/api/v1/no-such-route")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/json")


def test_a_bug_is_a_500_in_the_app_layout_without_the_request_context(client, settings):
    settings.ROOT_URLCONF = "tests.web.urls_with_a_bug"
    client.raise_request_exception = False
    response = client.get(BUG_PATH)
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in html and 'href="/static/css/app.css"' in html
    assert 'href="/"' in html and "Traceback" not in html and "a bug in a view" not in html


def test_a_500_under_the_api_is_json(client, settings):
    from loyalty_lists.web.views.errors import server_error

    request = client.get("/api/v1/lists").wsgi_request
    response = server_error(request)
    assert response.status_code == 500 and response["Content-Type"].startswith("application/json")
    assert b'"internal_error"' in response.content


def test_the_api_docs_link_back_to_the_admin(staff):
    html = staff.get("/api/v1/docs").content.decode()
    assert '<a href="/" id="back-to-admin">' in html
