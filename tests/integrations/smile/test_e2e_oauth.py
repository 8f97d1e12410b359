"""End to end against a live sandbox: the whole OAuth flow through our views, refresh, revocation,
and the private-API-key path."""

import html
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from integrations.smile.errors import SmileAuthError
from integrations.smile.models import SmileConnection
from integrations.smile.services import client_for_merchant
from tests.support.sandbox import HIDDEN_RE

from .conftest import connect_with_sandbox_tokens, point_settings_at

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


@pytest.fixture
def sandbox(smile_sandbox, settings):
    point_settings_at(settings, smile_sandbox)
    return smile_sandbox


def consent(authorize_url, approve=True):
    """Follow our redirect to the sandbox's consent page and press Approve (or Deny)."""
    with httpx.Client(timeout=30) as browser:
        page = browser.get(authorize_url)
        assert page.status_code == 200
        form = {name: html.unescape(value) for name, value in HIDDEN_RE.findall(page.text)}
        form["approve" if approve else "deny"] = "1"
        action = urlsplit(authorize_url)
        answer = browser.post(f"{action.scheme}://{action.netloc}{action.path}", data=form)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    return location, {k: v[0] for k, v in parse_qs(location.query).items()}


def test_the_full_oauth_flow_ends_connected_with_a_health_check(staff_client, sandbox, merchant_a):
    started = staff_client.post("/integrations/smile/connect")
    assert started["Location"].startswith(f"{sandbox.base_url}/oauth2/authorize?")
    location, params = consent(started["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == sandbox.redirect_uri
    assert set(params) >= {"code", "state"}

    response = staff_client.get(f"/integrations/smile/oauth/callback?{location.query}", follow=True)
    assert response.status_code == 200
    assert "Connected to Smile." in response.content.decode()

    connection = SmileConnection.objects.get(merchant=merchant_a[0])
    assert connection.status == "connected" and connection.auth_kind == "oauth"
    assert connection.account_id == "1"
    assert {"customer:read", "vip_tier:read"} <= set(connection.scope_list)
    assert connection.refresh_token() and connection.expires_at is not None
    assert connection.last_health_check_ok is True and connection.last_health_check_at is not None
    with client_for_merchant(merchant_a[0]) as client:
        assert len(client.list_vip_tiers()) >= 3


def test_denying_consent_on_the_sandbox_connects_nothing(staff_client, sandbox):
    started = staff_client.post("/integrations/smile/connect")
    location, params = consent(started["Location"], approve=False)
    assert params["error"] == "access_denied"
    response = staff_client.get(f"/integrations/smile/oauth/callback?{location.query}", follow=True)
    assert "You declined access on Smile; nothing was connected." in response.content.decode()
    assert not SmileConnection.objects.exists()


def test_an_expired_access_token_is_refreshed_and_rotated(sandbox, merchant_a):
    connection = connect_with_sandbox_tokens(merchant_a[0], sandbox)
    old_access, old_refresh = connection.access_token(), connection.refresh_token()
    sandbox.expire_tokens()
    with client_for_merchant(merchant_a[0]) as client:
        first = next(client.iter_customer_pages(limit=1)).customers[0]
        assert client.get_customer(first.id) == first
    connection.refresh_from_db()
    assert connection.status == "connected"
    assert connection.access_token() != old_access and connection.refresh_token() != old_refresh


def test_a_token_near_expiry_is_refreshed_before_use(sandbox, merchant_a):
    connection = connect_with_sandbox_tokens(merchant_a[0], sandbox, expires_in=30)
    old_access = connection.access_token()
    started = time.time()
    with client_for_merchant(merchant_a[0]) as client:
        client.health_check()
    connection.refresh_from_db()
    assert connection.access_token() != old_access
    assert [entry["status"] for entry in sandbox.requests_log(since=started)] == [200]


def test_a_revoked_token_needs_reconnect(sandbox, merchant_a, staff_client):
    connect_with_sandbox_tokens(merchant_a[0], sandbox)
    sandbox.revoke_tokens()
    with pytest.raises(SmileAuthError), client_for_merchant(merchant_a[0]) as client:
        client.list_vip_tiers()
    connection = SmileConnection.objects.get()
    assert connection.status == "needs_reconnect"
    assert "invalid_grant" in connection.last_error_message
    with pytest.raises(SmileAuthError):  # no retry storm: refused before any call
        client_for_merchant(merchant_a[0])
    assert "Needs reconnect" in staff_client.get("/integrations/smile/").content.decode()


def test_a_private_api_key_connects_with_smile_connect(smile_sandbox_factory, settings, merchant_a):
    from django.core.management import call_command

    sandbox = smile_sandbox_factory(customers=20, rate_limit=0, api_key=["api_sandbox_key_1"])
    point_settings_at(settings, sandbox)
    call_command("smile_connect", "--merchant", "alpha", "--api-key", "api_sandbox_key_1")
    connection = SmileConnection.objects.get()
    assert connection.auth_kind == "api_key" and connection.status == "connected"
    with client_for_merchant(merchant_a[0]) as client:
        pages = list(client.iter_customer_pages(limit=250))
    assert sum(len(p.customers) for p in pages) == 20
