"""OAuth against a running sandbox: consent page, code grant, PKCE, refresh rotation, client auth."""

import base64
import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from integrations.smile.sandbox.config import DEFAULT_REDIRECT_URI
from tests.support.sandbox import SandboxError

pytestmark = pytest.mark.e2e
OTHER_URI = "https://lists.example.com/integrations/smile/oauth/callback"


def location_query(resp: httpx.Response) -> dict[str, str]:
    assert resp.status_code == 302, resp.text
    return {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["location"]).query).items()}


def token_call(sandbox, data, auth=True) -> httpx.Response:
    return httpx.post(
        f"{sandbox.base_url}/oauth2/token",
        data=data,
        auth=(sandbox.client_id, sandbox.client_secret) if auth else None,
    )


def get_code(sandbox, **kwargs) -> tuple[str, dict, str | None]:
    params, verifier = sandbox.authorize_params(**kwargs)
    result = sandbox.authorize_code(params)
    assert result["state"] == params["state"]
    return result["code"], params, verifier


def test_full_flow_consent_approve_token_then_rest_call(smile_sandbox):
    params, verifier = smile_sandbox.authorize_params(scope="customer:read vip_tier:read")
    page = httpx.get(f"{smile_sandbox.base_url}/oauth2/authorize", params=params)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Smile loyalty lists" in html and "Sandbox Store" in html
    assert 'data-scope="customer:read"' in html and 'data-scope="vip_tier:read"' in html
    assert 'data-scope="points_settings:read"' not in html
    assert re.search(r'<button[^>]*name="approve"[^>]*>Approve</button>', html)
    assert re.search(r'<button[^>]*name="deny"[^>]*>Deny</button>', html)
    assert 'method="post" action="/oauth2/authorize"' in html
    assert "<script" not in html and "<link" not in html and "src=" not in html

    result = smile_sandbox.authorize_code(params)
    assert set(result) == {"code", "state"} and result["state"] == params["state"]
    resp = token_call(
        smile_sandbox,
        {
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
        },
    )
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "scope",
        "account_id",
        "account_name",
    }
    assert body["access_token"].startswith("oa2_")
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["account_id"] == 1
    assert body["account_name"] == "Sandbox Store"
    assert body["scope"] == "customer:read vip_tier:read"
    with smile_sandbox.api_client(body["access_token"]) as api:
        assert api.get("/customers").status_code == 200
        assert api.get("/vip_tiers").status_code == 200
        assert api.get("/points_settings").status_code == 403  # scope not granted


def test_defaults_are_the_first_redirect_uri_and_every_configured_scope(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=10, redirect_uri=[OTHER_URI, DEFAULT_REDIRECT_URI])
    params = {"client_id": sandbox.client_id, "response_type": "code", "state": "s1"}
    page = httpx.get(f"{sandbox.base_url}/oauth2/authorize", params=params)
    assert (
        f'<code id="redirect-to">{OTHER_URI}</code>' in page.text and 'name="redirect_uri"' not in page.text
    )
    resp = httpx.post(f"{sandbox.base_url}/oauth2/authorize", data={**params, "approve": "1"})
    assert resp.headers["location"].startswith(OTHER_URI + "?")
    code = location_query(resp)["code"]
    body = token_call(sandbox, {"grant_type": "authorization_code", "code": code}).json()
    assert body["scope"] == "customer:read vip_tier:read points_settings:read"
    # The second whitelisted URI is accepted when asked for explicitly.
    result = sandbox.authorize_code(sandbox.authorize_params(redirect_uri=DEFAULT_REDIRECT_URI)[0])
    assert "code" in result


def test_deny_redirects_with_access_denied_and_state(smile_sandbox):
    params, _ = smile_sandbox.authorize_params(state="xyz-123")
    result = smile_sandbox.authorize_code(params, approve=False)
    assert result["error"] == "access_denied" and result["state"] == "xyz-123"
    assert "code" not in result


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_bad_redirect_uri_is_an_error_page_never_a_redirect(smile_sandbox, method):
    params, _ = smile_sandbox.authorize_params(redirect_uri="https://evil.example/cb")
    resp = httpx.request(
        method,
        f"{smile_sandbox.base_url}/oauth2/authorize",
        **({"params": params} if method == "GET" else {"data": {**params, "approve": "1"}}),
    )
    assert resp.status_code == 400 and "location" not in resp.headers
    assert "Invalid redirect URI" in resp.text and resp.headers["content-type"].startswith("text/html")


def test_an_unknown_client_is_an_error_page(smile_sandbox):
    params, _ = smile_sandbox.authorize_params()
    resp = httpx.get(f"{smile_sandbox.base_url}/oauth2/authorize", params={**params, "client_id": "nope"})
    assert resp.status_code == 400 and "location" not in resp.headers and "Unknown application" in resp.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"scope": "customer:read customer:write"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": ""}, "invalid_request"),
        ({"code_challenge_method": "S512"}, "invalid_request"),
    ],
)
def test_other_authorize_errors_redirect_with_rfc_params(smile_sandbox, change, error):
    params, _ = smile_sandbox.authorize_params(state="st-9")
    resp = httpx.get(f"{smile_sandbox.base_url}/oauth2/authorize", params={**params, **change})
    query = location_query(resp)
    assert resp.headers["location"].startswith(smile_sandbox.redirect_uri + "?")
    assert query["error"] == error and query["state"] == "st-9" and query["error_description"]


def test_a_code_is_single_use_and_a_replay_revokes_its_tokens(smile_sandbox):
    code, params, verifier = get_code(smile_sandbox)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": params["redirect_uri"],
        "code_verifier": verifier,
    }
    first = token_call(smile_sandbox, data)
    assert first.status_code == 200
    again = token_call(smile_sandbox, data)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    with smile_sandbox.api_client(first.json()["access_token"]) as api:
        assert api.get("/customers").status_code == 401


def test_an_expired_code_is_invalid_grant(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=10, code_ttl=1)
    code, params, verifier = get_code(sandbox)
    time.sleep(1.2)
    resp = token_call(
        sandbox,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
        },
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    assert "expired" in resp.json()["error_description"]


def test_pkce_is_checked(smile_sandbox):
    code, params, _ = get_code(smile_sandbox)
    wrong = token_call(
        smile_sandbox,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
            "code_verifier": "x" * 50,
        },
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code, params, _ = get_code(smile_sandbox)
    missing = token_call(
        smile_sandbox,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": params["redirect_uri"]},
    )
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


def test_plain_pkce_and_no_pkce_are_accepted(smile_sandbox):
    verifier = "v" * 43
    params = {
        "client_id": smile_sandbox.client_id,
        "response_type": "code",
        "state": "p",
        "code_challenge": verifier,
        "code_challenge_method": "plain",
    }
    code = smile_sandbox.authorize_code(params)["code"]
    ok = token_call(
        smile_sandbox, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
    )
    assert ok.status_code == 200
    assert smile_sandbox.issue_token(pkce=False)["access_token"].startswith("oa2_")


def test_the_redirect_uri_must_match_the_authorization_request(smile_sandbox):
    code, _, verifier = get_code(smile_sandbox)
    resp = token_call(
        smile_sandbox,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://127.0.0.1:8000/other",
            "code_verifier": verifier,
        },
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"


def test_refresh_rotates_and_a_reused_refresh_token_is_invalid_grant(smile_sandbox):
    first = smile_sandbox.issue_token()
    second = smile_sandbox.refresh(first["refresh_token"])
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == first["scope"] and second["expires_in"] == 3600
    with smile_sandbox.api_client(second["access_token"]) as api:
        assert api.get("/customers", params={"limit": 1}).status_code == 200
    with pytest.raises(SandboxError) as exc:
        smile_sandbox.refresh(first["refresh_token"])
    assert exc.value.status == 400 and exc.value.body["error"] == "invalid_grant"
    assert smile_sandbox.refresh(second["refresh_token"])["access_token"].startswith("oa2_")


def test_refresh_can_narrow_but_not_widen_the_scope(smile_sandbox):
    token = smile_sandbox.issue_token(scope="customer:read vip_tier:read")
    wide = token_call(
        smile_sandbox,
        {
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "scope": "customer:read points_settings:read",
        },
    )
    assert wide.status_code == 400 and wide.json()["error"] == "invalid_scope"
    narrow = token_call(
        smile_sandbox,
        {"grant_type": "refresh_token", "refresh_token": token["refresh_token"], "scope": "vip_tier:read"},
    )
    assert narrow.status_code == 200 and narrow.json()["scope"] == "vip_tier:read"


def test_client_auth_by_form_fields_and_by_basic_header(smile_sandbox):
    token = smile_sandbox.issue_token()
    form = token_call(
        smile_sandbox,
        {
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": smile_sandbox.client_id,
            "client_secret": smile_sandbox.client_secret,
        },
        auth=False,
    )
    assert form.status_code == 200
    basic = base64.b64encode(f"{smile_sandbox.client_id}:{smile_sandbox.client_secret}".encode()).decode()
    resp = httpx.post(
        f"{smile_sandbox.base_url}/oauth2/token",
        headers={"Authorization": f"Basic {basic}"},
        data={"grant_type": "refresh_token", "refresh_token": form.json()["refresh_token"]},
    )
    assert resp.status_code == 200


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        (
            {"grant_type": "refresh_token", "refresh_token": "x"},
            ("sandbox-client", "wrong"),
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "refresh_token", "refresh_token": "x"},
            ("someone", "sandbox-secret"),
            401,
            "invalid_client",
        ),
        ({"grant_type": "refresh_token", "refresh_token": "x"}, None, 401, "invalid_client"),
        (
            {"grant_type": "refresh_token", "refresh_token": "x", "client_secret": "sandbox-secret"},
            ("sandbox-client", "sandbox-secret"),
            400,
            "invalid_request",
        ),
        ({"grant_type": "password"}, ("sandbox-client", "sandbox-secret"), 400, "unsupported_grant_type"),
        ({}, ("sandbox-client", "sandbox-secret"), 400, "invalid_request"),
        ({"grant_type": "authorization_code"}, ("sandbox-client", "sandbox-secret"), 400, "invalid_request"),
        (
            {"grant_type": "authorization_code", "code": "nope"},
            ("sandbox-client", "sandbox-secret"),
            400,
            "invalid_grant",
        ),
        (
            {"grant_type": "refresh_token", "refresh_token": "nope"},
            ("sandbox-client", "sandbox-secret"),
            400,
            "invalid_grant",
        ),
    ],
)
def test_token_endpoint_errors_follow_rfc_6749(smile_sandbox, data, auth, status, error):
    resp = httpx.post(f"{smile_sandbox.base_url}/oauth2/token", data=data, auth=auth)
    assert resp.status_code == status
    assert resp.json()["error"] == error and resp.json()["error_description"]
    if status == 401 and auth:
        assert resp.headers["www-authenticate"].startswith("Basic")


def test_token_endpoint_wants_a_form_post(smile_sandbox):
    as_json = httpx.post(
        f"{smile_sandbox.base_url}/oauth2/token",
        json={"grant_type": "refresh_token"},
        auth=(smile_sandbox.client_id, smile_sandbox.client_secret),
    )
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    assert httpx.get(f"{smile_sandbox.base_url}/oauth2/token").status_code == 405


def test_expire_keeps_refresh_working_and_revoke_kills_everything(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=10)
    token = sandbox.issue_token()
    other = sandbox.issue_token()
    assert sandbox.expire_tokens() == 2
    with sandbox.api_client(token["access_token"]) as api:
        assert api.get("/customers").status_code == 401
    fresh = sandbox.refresh(token["refresh_token"])
    with sandbox.api_client(fresh["access_token"]) as api:
        assert api.get("/customers").status_code == 200
        assert sandbox.revoke_tokens(fresh["access_token"]) == 1  # just that one
        assert api.get("/customers").status_code == 401
    assert sandbox.refresh(other["refresh_token"])["access_token"]
    sandbox.revoke_tokens()
    with pytest.raises(SandboxError) as exc:
        sandbox.refresh(fresh["refresh_token"])
    assert exc.value.body["error"] == "invalid_grant"


def test_short_token_ttl_expires_by_itself(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=10, token_ttl=1)
    token = sandbox.issue_token()
    assert token["expires_in"] == 1
    with sandbox.api_client(token["access_token"]) as api:
        assert api.get("/customers").status_code == 200
        time.sleep(1.1)
        assert api.get("/customers").status_code == 401


def test_a_merchant_api_key_is_accepted_with_all_scopes(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(
        customers=10, api_key=["api_live_123", "api_other"], scopes="customer:read"
    )
    with sandbox.api_client("api_live_123") as api:
        assert [api.get(p).status_code for p in ("/customers", "/vip_tiers", "/points_settings")] == [200] * 3
    with sandbox.api_client("api_unknown") as api:
        assert api.get("/customers").status_code == 401
    # the app itself was configured with one scope only
    assert sandbox.issue_token()["scope"] == "customer:read"
