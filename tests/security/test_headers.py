"""Production security settings: `check --deploy` passes, and responses carry the headers and cookie flags.

The production environment is applied in a fresh interpreter (settings are read at import); the security
settings it yields are then applied here with override_settings, so the test client sees exactly them.
"""

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-staple"
SMILE_AUTHORIZE = "https://connect.smile.io/oauth2/authorize"
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "loyalty_lists.settings",
    "SECRET_KEY": "prod-like-" + "k3y-0f-50-characters-or-more-with-variety-" * 2,
    "FIELD_ENCRYPTION_KEYS": "dGVzdC1vbmx5LWZpZWxkLWVuY3J5cHRpb24ta2V5LTE=",
    "ALLOWED_HOSTS": "lists.example.com",
    "SITE_URL": "https://lists.example.com",
    "DATABASE_URL": "postgres://lists:secret@db.internal:5432/lists",  # not connected to by these checks
    "REDIS_URL": "redis://redis.internal:6379/0",
    "SMILE_OAUTH_AUTHORIZE_URL": SMILE_AUTHORIZE,
    "SMILE_OAUTH_TOKEN_URL": "https://connect.smile.io/oauth2/token",
    "SMILE_API_BASE": "https://api.smile.io/v1",
    "SMILE_CLIENT_ID": "app-id",
    "SMILE_CLIENT_SECRET": "the-apps-own-secret",
    "HTTPS": "1",
}
SECURITY_SETTINGS = [
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "X_FRAME_OPTIONS",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "CONTENT_SECURITY_POLICY",
]
PROBE = (
    "import json, django; django.setup(); from django.conf import settings;"
    f"print(json.dumps({{name: getattr(settings, name) for name in {SECURITY_SETTINGS!r}}}))"
)


def run_with(env: dict, args: list[str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    clean.update(env, SQLITE_PATH="/tmp/sll-security-probe.db", STATIC_ROOT="/tmp/sll-security-static")
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_passes_with_the_production_environment():
    result = run_with(PRODUCTION, ["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_without_https():
    env = {k: v for k, v in PRODUCTION.items() if k != "HTTPS"}
    result = run_with(env, ["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr


@pytest.fixture(scope="module")
def production_security_settings() -> dict:
    result = run_with(PRODUCTION, ["-c", PROBE])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def production(production_security_settings, db):
    cache.clear()
    with override_settings(**production_security_settings):
        yield production_security_settings
    cache.clear()


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def test_production_turns_on_https_hardening(production):
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SECURE_HSTS_SECONDS"] == 31536000
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["CSRF_COOKIE_SECURE"] is True


def test_plain_http_is_redirected_to_https(production, client):
    response = client.get("/accounts/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"


def test_https_responses_carry_the_security_headers(production, client):
    response = client.get("/accounts/login/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_content_security_policy_allows_only_same_origin_resources(production, client):
    policy = csp_directives(client.get("/accounts/login/", secure=True))
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no inline scripts, no eval
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    # "Connect" posts here and is redirected to Smile; form-action applies to that redirect too.
    assert policy["form-action"] == ["'self'", "https://connect.smile.io"]


def test_the_login_page_has_no_inline_script_or_style(production, client):
    body = client.get("/accounts/login/", secure=True).content.decode()
    scripts = re.findall(r"<script\b[^>]*>", body)
    assert all("src=" in tag or 'type="application/json"' in tag for tag in scripts), scripts
    assert "<style" not in body
    assert not re.search(r"\sstyle=", body)
    assert not re.search(r"\son[a-z]+=", body)  # no inline event handlers


def test_cookies_are_secure_httponly_and_same_site_lax(production, client, merchant_a):
    _, user = merchant_a
    page = client.get("/accounts/login/", secure=True)
    csrf = page.cookies["csrftoken"]
    assert csrf["secure"] is True and csrf["httponly"] is True and csrf["samesite"] == "Lax"

    login = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}, secure=True)
    assert login.status_code == 302
    session = login.cookies["sessionid"]
    assert session["secure"] is True and session["httponly"] is True and session["samesite"] == "Lax"


def test_the_totp_qr_code_is_a_data_uri_image_the_policy_allows(production, client, merchant_a):
    _, user = merchant_a
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}, secure=True)
    gate = client.get("/accounts/2fa/totp/activate/", secure=True)
    assert gate.status_code == 302  # allauth asks for the password again first
    client.post(gate["Location"], {"password": PASSWORD}, secure=True)
    page = client.get("/accounts/2fa/totp/activate/", secure=True)
    assert page.status_code == 200

    images = re.findall(r'<img src="(data:image/svg\+xml;base64,[^"]+)"', page.content.decode())
    assert len(images) == 1, "the QR code is an <img> with an SVG data URI"
    svg = base64.b64decode(images[0].split(",", 1)[1]).decode()
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "<svg" in svg
    assert "data:" in csp_directives(page)["img-src"]
    assert "<script" not in svg  # nothing in it that script-src would have to allow
