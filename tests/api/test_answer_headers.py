"""API calls go through Django's whole middleware stack, like pages, and answer with the headers a JSON API
should carry; the browser's session is no API credential and the docs page keeps the site's CSP."""

import pytest
from django.contrib.auth import get_user_model

from .conftest import make_list

pytestmark = pytest.mark.django_db

JSON_API_CSP = "default-src 'none'; frame-ancestors 'none'"


def test_api_answers_carry_the_json_api_headers_and_set_no_cookies(api, shop):
    make_list(shop)
    response = api.post("/api/v1/lookups", {"email": "ann@example.com"})
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == JSON_API_CSP
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware
    assert response["Content-Length"] == str(len(response.content))  # CommonMiddleware: not chunked
    assert not response.cookies
    for path in ("/api/v1/no-such-route", "/api/elsewhere", "/api/v1/openapi.json"):
        other = api.get(path)
        assert other["Content-Security-Policy"] == JSON_API_CSP, path
        assert other["X-Frame-Options"] == "DENY", path
    errors = [api.get("/api/v1/lists/99999"), api.generic("PUT", "/api/v1/lists"), api.get("/api/v1/nope")]
    for response in errors:
        assert response["Content-Security-Policy"] == JSON_API_CSP, response.status_code


def test_a_signed_in_browser_session_is_no_api_credential(client, shop):
    user = get_user_model().objects.create_user(email="staff@example.com", password="pw-12345678")
    client.force_login(user)
    response = client.post("/api/v1/lookups", {"email": "ann@example.com"}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies


def test_a_key_needs_no_csrf_token_even_with_a_session_cookie(client, key_a, shop):
    user = get_user_model().objects.create_user(email="staff@example.com", password="pw-12345678")
    client.force_login(user)
    client.handler.enforce_csrf_checks = True
    make_list(shop)
    response = client.post(
        "/api/v1/lookups",
        {"email": "ann@example.com"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key_a}"},
    )
    assert response.status_code == 200, response.content


def test_a_host_outside_allowed_hosts_is_refused_on_the_api_too(api, settings):
    settings.ALLOWED_HOSTS = ["lists.example.com"]
    response = api.client.post(
        "/api/v1/lookups",
        {"email": "a@example.com"},
        content_type="application/json",
        HTTP_HOST="evil.example",
    )
    assert response.status_code == 400


def test_the_docs_page_goes_through_the_browser_stack(anonymous):
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
