"""ConnectionTokenProvider + connection_token_refresh: refresh before expiry and after a 401, rotation,
serialisation, invalid_grant → needs reconnect, API keys."""

from datetime import timedelta
from urllib.parse import parse_qs

import httpx
import pytest
from django.utils import timezone

from integrations.smile.errors import SmileAuthError, SmileNotConnected, SmileUnavailable
from integrations.smile.models import SmileConnection
from integrations.smile.selectors import connection_status
from integrations.smile.services import ConnectionTokenProvider, client_for_merchant

from .conftest import TOKEN_URL, token_json

pytestmark = pytest.mark.django_db


def expire_soon(connection, seconds=30):
    SmileConnection.objects.filter(pk=connection.pk).update(
        expires_at=timezone.now() + timedelta(seconds=seconds)
    )
    connection.refresh_from_db()


def test_a_fresh_token_is_used_as_is(oauth_connection, token_endpoint):
    assert ConnectionTokenProvider(oauth_connection).get_token() == "oa2-access-1"
    assert len(token_endpoint.calls) == 0


def test_it_refreshes_before_expiry_and_saves_the_rotated_refresh_token(oauth_connection, token_endpoint):
    expire_soon(oauth_connection)
    token_endpoint.post(TOKEN_URL, json=token_json(access="at-2", refresh="rt-2", expires_in=7200))
    provider = ConnectionTokenProvider(oauth_connection)
    assert provider.get_token() == "at-2"
    sent = parse_qs(token_endpoint.calls[0].request.body)
    assert sent["grant_type"] == ["refresh_token"] and sent["refresh_token"] == ["refresh-1"]
    oauth_connection.refresh_from_db()
    assert oauth_connection.access_token() == "at-2" and oauth_connection.refresh_token() == "rt-2"
    assert oauth_connection.expires_at > timezone.now() + timedelta(minutes=100)
    assert provider.get_token() == "at-2" and len(token_endpoint.calls) == 1


def test_a_refresh_without_a_new_refresh_token_keeps_the_old_one(oauth_connection, token_endpoint):
    expire_soon(oauth_connection)
    body = token_json(access="at-2")
    del body["refresh_token"]
    token_endpoint.post(TOKEN_URL, json=body)
    ConnectionTokenProvider(oauth_connection).get_token()
    oauth_connection.refresh_from_db()
    assert oauth_connection.refresh_token() == "refresh-1"


def test_refresh_uses_form_client_auth_when_configured(oauth_connection, token_endpoint, settings):
    settings.SMILE_TOKEN_AUTH_METHOD = "form"
    expire_soon(oauth_connection)
    token_endpoint.post(TOKEN_URL, json=token_json())
    ConnectionTokenProvider(oauth_connection).get_token()
    request = token_endpoint.calls[0].request
    sent = parse_qs(request.body)
    assert "Authorization" not in request.headers
    assert sent["client_id"] == ["client-123"] and sent["client_secret"] == ["client-secret-456"]


def test_refresh_uses_basic_client_auth_by_default(oauth_connection, token_endpoint):
    expire_soon(oauth_connection)
    token_endpoint.post(TOKEN_URL, json=token_json())
    ConnectionTokenProvider(oauth_connection).get_token()
    request = token_endpoint.calls[0].request
    assert request.headers["Authorization"].startswith("Basic ")
    assert "client_secret" not in parse_qs(request.body)


def test_a_401_refreshes_and_the_client_retries(oauth_connection, token_endpoint, smile_api):
    token_endpoint.post(TOKEN_URL, json=token_json(access="at-2", refresh="rt-2"))
    smile_api["tiers"].side_effect = [
        httpx.Response(401, json={"error": {"message": "expired"}}),
        httpx.Response(200, json={"vip_tiers": []}),
    ]
    with client_for_merchant(oauth_connection.merchant) as client:
        assert client.list_vip_tiers() == []
    headers = [c.request.headers["Authorization"] for c in smile_api["tiers"].calls]
    assert headers == ["Bearer oa2-access-1", "Bearer at-2"]
    oauth_connection.refresh_from_db()
    assert oauth_connection.refresh_token() == "rt-2" and oauth_connection.status == "connected"


def test_invalid_grant_marks_the_connection_needs_reconnect(oauth_connection, token_endpoint, smile_api):
    token_endpoint.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    smile_api["tiers"].respond(401, json={"error": {"message": "revoked"}})
    with pytest.raises(SmileAuthError), client_for_merchant(oauth_connection.merchant) as client:
        client.list_vip_tiers()
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == "needs_reconnect"
    assert "invalid_grant" in oauth_connection.last_error_message
    assert oauth_connection.last_error_at is not None
    assert connection_status(oauth_connection.merchant).label == "Needs reconnect"


@pytest.mark.parametrize("status", [400, 401])
def test_a_token_endpoint_400_or_401_also_needs_reconnect(oauth_connection, token_endpoint, status):
    expire_soon(oauth_connection)
    token_endpoint.post(TOKEN_URL, status=status, body="nope")
    with pytest.raises(SmileAuthError):
        ConnectionTokenProvider(oauth_connection).get_token()
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == "needs_reconnect"


def test_a_token_endpoint_outage_does_not_disconnect(oauth_connection, token_endpoint):
    expire_soon(oauth_connection)
    token_endpoint.post(TOKEN_URL, status=503, body="busy")
    with pytest.raises(SmileUnavailable):
        ConnectionTokenProvider(oauth_connection).get_token()
    oauth_connection.refresh_from_db()
    assert oauth_connection.status == "connected" and oauth_connection.refresh_token() == "refresh-1"


def test_while_needing_reconnect_the_client_does_not_call_smile(oauth_connection, token_endpoint, smile_api):
    SmileConnection.objects.filter(pk=oauth_connection.pk).update(
        status="needs_reconnect", last_error_message="Token refresh failed: invalid_grant"
    )
    with pytest.raises(SmileAuthError, match="invalid_grant"):
        client_for_merchant(oauth_connection.merchant)
    assert not smile_api.calls and not token_endpoint.calls


def test_a_second_worker_reuses_a_refresh_made_by_the_first(oauth_connection, token_endpoint):
    """Two workers hold the same stale token; only one spends the single-use refresh token."""
    expire_soon(oauth_connection)
    token_endpoint.post(TOKEN_URL, json=token_json(access="at-2", refresh="rt-2"))
    first, second = ConnectionTokenProvider(oauth_connection), ConnectionTokenProvider(oauth_connection)
    assert first.get_token() == "at-2"
    assert second.get_token() == "at-2"  # re-read under the lock: no second refresh
    assert len(token_endpoint.calls) == 1


def test_a_401_seen_by_two_threads_refreshes_once(oauth_connection, token_endpoint):
    token_endpoint.post(TOKEN_URL, json=token_json(access="at-2", refresh="rt-2"))
    provider = ConnectionTokenProvider(oauth_connection)
    provider.get_token()
    assert provider.refresh_after_401() == "at-2"
    other = ConnectionTokenProvider(oauth_connection)  # another process still holding oa2-access-1
    other._token = "oa2-access-1"
    other._local.token = "oa2-access-1"
    assert other.refresh_after_401() == "at-2"
    assert len(token_endpoint.calls) == 1


def test_a_401_on_an_api_key_needs_reconnect(merchant_a, smile_api):
    connection = SmileConnection(merchant=merchant_a[0], auth_kind="api_key", status="connected")
    connection.set_tokens(access_token="api_key_1")
    connection.save()
    smile_api["customers"].respond(401, json={"error": {"message": "Invalid credentials."}})
    with pytest.raises(SmileAuthError), client_for_merchant(merchant_a[0]) as client:
        client.health_check()
    connection.refresh_from_db()
    assert connection.status == "needs_reconnect" and "API key" in connection.last_error_message
    assert smile_api["customers"].call_count == 1


def test_a_merchant_without_a_connection_is_not_connected(merchant_a):
    with pytest.raises(SmileNotConnected):
        client_for_merchant(merchant_a[0])


def test_a_disconnected_merchant_is_not_connected(oauth_connection):
    from integrations.smile.services import connection_disconnect

    connection_disconnect(merchant=oauth_connection.merchant)
    with pytest.raises(SmileNotConnected):
        client_for_merchant(oauth_connection.merchant)
