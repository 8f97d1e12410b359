"""API calls go straight to their view after SecurityMiddleware (``loyalty_lists.api.middleware``): the
same answers and matches as through the whole stack, with the headers a JSON API should carry, and none
of the browser's middleware (sessions, CSRF, signed-in user) in the way."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import resolve

from loyalty_lists.api import middleware as middleware_module
from loyalty_lists.api.middleware import ApiMiddleware

from .conftest import make_list

pytestmark = pytest.mark.django_db

PATHS = [
    "/api/v1/lookups",
    "/api/v1/lists",
    "/api/v1/lists/5",
    "/api/v1/lists/5/items",
    "/api/v1/lists/5/members/ann@example.com",
    "/api/v1/sync-runs",
    "/api/v1/openapi.json",
    "/api/v1/no-such-route",
    "/api/elsewhere",
    "/api/",
]


@pytest.mark.parametrize("path", PATHS)
def test_the_cut_down_resolver_matches_as_the_root_urlconf_does(path):
    middleware = ApiMiddleware(None)
    for ours in (middleware.resolve(path), middleware.resolve(path)):  # resolved, then remembered
        django = resolve(path)
        for attr in ("func", "args", "kwargs", "url_name", "namespaces", "route", "view_name"):
            assert getattr(ours, attr) == getattr(django, attr), attr


def test_remembered_matches_are_bounded(monkeypatch):
    monkeypatch.setattr(middleware_module, "MAX_MATCHES", 3)
    middleware = ApiMiddleware(None)
    for n in range(10):
        assert middleware.resolve(f"/api/v1/lists/{n}").kwargs == {"list_id": str(n)}
        assert len(middleware._matches) <= 3


def test_api_answers_carry_the_json_api_headers_and_no_cookies(api, shop):
    make_list(shop)
    response = api.post("/api/v1/lookups", {"email": "ann@example.com"})
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still runs
    assert response["Content-Length"] == str(len(response.content))  # not chunked
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")
    for path in ("/api/v1/no-such-route", "/api/elsewhere"):
        missing = api.get(path)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert missing["X-Frame-Options"] == "DENY"


def test_a_signed_in_browser_session_is_no_api_credential(client, shop):
    user = get_user_model().objects.create_user(email="staff@example.com", password="pw-12345678")
    client.force_login(user)
    response = client.post("/api/v1/lookups", {"email": "ann@example.com"}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


def test_a_host_outside_allowed_hosts_is_refused_on_the_api_too(api, settings):
    settings.ALLOWED_HOSTS = ["lists.example.com"]
    response = api.client.post(
        "/api/v1/lookups",
        {"email": "a@example.com"},
        content_type="application/json",
        HTTP_HOST="evil.example",
    )
    assert response.status_code == 400


def test_the_docs_page_still_goes_through_the_browser_stack(anonymous):
    response = anonymous.get("/api/v1/docs")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]  # the site's, which lets the page load its own assets
    assert "script-src 'self'" in policy and "default-src 'none'" not in policy


def test_https_hardening_applies_to_the_api(api, shop, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    plain = api.post("/api/v1/lookups", {"email": "a@example.com"})
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    make_list(shop)
    secure = api.client.post(
        "/api/v1/lookups",
        '{"email": "a@example.com"}',
        content_type="application/json",
        secure=True,
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000"
