"""Helpers for the Smile client and connection tests."""

import json

import httpx
import pytest

from integrations.smile.client import SmileClient
from integrations.smile.errors import SmileAuthError

API_BASE = "https://api.smile.test/v1"


class FakeTokens:
    """A token provider: hands out ``tokens`` in turn on refresh; counts calls."""

    def __init__(self, token="tok-1", refreshed=("tok-2",), refresh_fails=False):
        self.token = token
        self._refreshed = list(refreshed)
        self.refresh_fails = refresh_fails
        self.refreshes = 0
        self.auth_failures = []

    def get_token(self):
        return self.token

    def refresh_after_401(self):
        self.refreshes += 1
        if self.refresh_fails or not self._refreshed:
            raise SmileAuthError("refresh impossible")
        self.token = self._refreshed.pop(0)
        return self.token

    def auth_failed(self, reason):
        self.auth_failures.append(reason)


def customer_json(customer_id=1, **overrides):
    data = {
        "id": customer_id,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": f"shopper{customer_id}@example.com",
        "state": "member",
        "date_of_birth": None,
        "points_balance": 120,
        "referral_url": "https://example.com/r",
        "vip_tier_id": 7,
        "vip_status": {
            "vip_tier_id": 7,
            "vip_tier_expires_at": "2026-12-31T23:59:59.999Z",
            "progress_value": 10.5,
            "current_vip_period_end": "2025-12-31T23:59:59.999Z",
            "delta_to_retain_vip_tier": None,
            "next_vip_tier_id": None,
            "delta_to_next_vip_tier": None,
        },
        "created_at": "2024-04-04T15:10:42.030Z",
        "updated_at": "2024-05-01T08:00:00.000Z",
    }
    data.update(overrides)
    return data


def page_json(customers, next_cursor=None, previous_cursor=""):
    return {
        "customers": customers,
        "metadata": {"next_cursor": next_cursor, "previous_cursor": previous_cursor},
    }


def respond(status=200, body=None, headers=None, text=None):
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


class Recorder:
    """A MockTransport handler that answers from a list (last answer repeats) and records requests."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request):
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make_client(sleeps):
    clients = []

    def make(handler, tokens=None, **kwargs):
        kwargs.setdefault("max_attempts", 4)
        client = SmileClient(
            base_url=API_BASE,
            token_provider=tokens or FakeTokens(),
            correlation_id=kwargs.pop("correlation_id", "test-run"),
            rate_limiter=kwargs.pop("rate_limiter", None),
            transport=httpx.MockTransport(handler),
            sleep=sleeps.append,
            **kwargs,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# --- connection fixtures ------------------------------------------------------------------------------
SMILE = "https://smile.test"
TOKEN_URL = f"{SMILE}/oauth2/token"


@pytest.fixture
def smile_settings(settings):
    """Point every Smile URL at a fake host (mocked with responses / respx), no pacing, few retries."""
    settings.SMILE_API_BASE = API_BASE
    settings.SMILE_OAUTH_AUTHORIZE_URL = f"{SMILE}/oauth2/authorize"
    settings.SMILE_OAUTH_TOKEN_URL = TOKEN_URL
    settings.SMILE_OAUTH_REDIRECT_URI = "https://lists.test/integrations/smile/oauth/callback"
    settings.SMILE_CLIENT_ID = "client-123"
    settings.SMILE_CLIENT_SECRET = "client-secret-456"
    settings.SMILE_OAUTH_SCOPES = ["customer:read", "vip_tier:read"]
    settings.SMILE_TOKEN_AUTH_METHOD = "basic"
    settings.SMILE_RATE_LIMIT_PER_SECOND = 0
    settings.SMILE_MAX_ATTEMPTS = 2
    return settings


@pytest.fixture
def token_endpoint(smile_settings):
    """``responses`` for the requests-oauthlib token calls."""
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def smile_api(smile_settings):
    """respx for the httpx API client; GET /vip_tiers answers 200 unless a test says otherwise."""
    import respx

    with respx.mock(base_url=API_BASE, assert_all_called=False) as mock:
        mock.get("/vip_tiers", name="tiers").respond(200, json={"vip_tiers": [{"id": 1, "name": "Gold"}]})
        mock.get("/customers", name="customers").respond(
            200, json={"customers": [], "metadata": {"next_cursor": None, "previous_cursor": None}}
        )
        yield mock


def token_json(
    access="at-new", refresh="rt-new", scope="customer:read vip_tier:read", expires_in=3600, **extra
):
    body = {
        "access_token": access,
        "token_type": "Bearer",
        "refresh_token": refresh,
        "expires_in": expires_in,
    }
    if scope is not None:
        body["scope"] = scope
    body.update(extra)
    return body


@pytest.fixture
def oauth_connection(merchant_a):
    """Merchant A connected with OAuth (access token oa2-access-1, refresh token refresh-1, one hour left)."""
    from datetime import timedelta

    from django.utils import timezone

    from integrations.smile.models import SmileConnection

    merchant, user = merchant_a
    connection = SmileConnection(
        merchant=merchant,
        auth_kind="oauth",
        status="connected",
        expires_at=timezone.now() + timedelta(hours=1),
        scopes="customer:read vip_tier:read",
        account_id="77",
        connected_at=timezone.now(),
        connected_by=user,
    )
    connection.set_tokens(access_token="oa2-access-1", refresh_token="refresh-1")
    connection.save()
    return connection


@pytest.fixture
def staff_client(client, merchant_a):
    client.force_login(merchant_a[1])
    return client


# --- end-to-end against the real sandbox ------------------------------------------------------------
def point_settings_at(settings, sandbox):
    settings.SMILE_API_BASE = sandbox.api_base
    settings.SMILE_OAUTH_AUTHORIZE_URL = f"{sandbox.base_url}/oauth2/authorize"
    settings.SMILE_OAUTH_TOKEN_URL = f"{sandbox.base_url}/oauth2/token"
    settings.SMILE_OAUTH_REDIRECT_URI = sandbox.redirect_uri
    settings.SMILE_CLIENT_ID = sandbox.client_id
    settings.SMILE_CLIENT_SECRET = sandbox.client_secret
    settings.SMILE_OAUTH_SCOPES = ["customer:read", "vip_tier:read"]
    return settings


def connect_with_sandbox_tokens(merchant, sandbox, **token_overrides):
    """Store tokens issued by the sandbox (full authorization-code flow) as the merchant's connection."""
    from integrations.smile.models import SmileConnection
    from integrations.smile.oauth import _normalise

    token = _normalise({**sandbox.issue_token(), **token_overrides})
    connection, _ = SmileConnection.objects.update_or_create(
        merchant=merchant,
        defaults={
            "auth_kind": "oauth",
            "status": "connected",
            "expires_at": token.expires_at,
            "scopes": " ".join(token.scopes),
            "account_id": token.account_id,
        },
    )
    connection.set_tokens(access_token=token.access_token, refresh_token=token.refresh_token)
    connection.save()
    return connection


def max_in_any_window(times, window=1.0):
    """The most timestamps inside any half-open window [t, t + window)."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.fixture(scope="module")
def token(smile_sandbox):
    """An access token of the module's sandbox (the whole OAuth flow, consent approved)."""
    return smile_sandbox.issue_token()["access_token"]


@pytest.fixture
def sandbox(smile_sandbox):
    """The module's sandbox with no faults before or after the test (also releases hanging requests)."""
    smile_sandbox.clear_faults()
    yield smile_sandbox
    smile_sandbox.clear_faults()
