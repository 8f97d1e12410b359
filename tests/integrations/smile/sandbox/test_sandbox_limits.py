"""Auth errors, scopes, rate limiting (sliding one-second window per token), latency, request log."""

import hashlib
import threading
import time

import httpx
import pytest

from integrations.smile.sandbox.ratelimit import token_fingerprint
from tests.support import smile_spec as spec

pytestmark = pytest.mark.e2e


def assert_error(resp, status):
    assert resp.status_code == status, resp.text
    assert spec.errors(spec.error_validator(), resp.json()) == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer oa2_unknown"}, {"Authorization": "Token x"}, {"Authorization": "Bearer"}],
)
def test_missing_or_unknown_tokens_are_401(smile_sandbox, headers):
    assert_error(httpx.get(f"{smile_sandbox.api_base}/customers", headers=headers), 401)


def test_a_token_without_the_scope_is_403(smile_sandbox):
    token = smile_sandbox.issue_token(scope="vip_tier:read")["access_token"]
    with smile_sandbox.api_client(token) as api:
        assert api.get("/vip_tiers").status_code == 200
        assert_error(api.get("/customers"), 403)
        assert_error(api.get("/customers/300000001"), 403)
        assert_error(api.get("/points_settings"), 403)
        assert "customer:read" in api.get("/customers").json()["error"]["message"]


def test_unknown_paths_are_404_and_other_methods_405(sandbox_api):
    assert_error(sandbox_api.get("/orders"), 404)
    resp = sandbox_api.post("/customers", json={})
    assert_error(resp, 405)
    assert resp.headers["allow"] == "GET"
    assert_error(sandbox_api.delete("/vip_tiers"), 405)


def test_rate_limit_429_then_reset_after_one_second(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=50, rate_limit=10)
    token = sandbox.issue_token()["access_token"]
    with sandbox.api_client(token) as api:
        statuses = [api.get("/customers", params={"limit": 1}).status_code for _ in range(25)]
        assert statuses[:10] == [200] * 10 and statuses.count(429) >= 5
        resp = api.get("/customers")
        assert_error(resp, 429)
        assert "retry-after" not in resp.headers
        time.sleep(1.05)  # every accepted request has left the window: the allowance is back
        assert [api.get("/customers").status_code for _ in range(10)] == [200] * 10
        assert api.get("/customers").status_code == 429
        # limits are per token: a second token is not affected by the first one's burst
        other = sandbox.issue_token()["access_token"]
        with sandbox.api_client(other) as api2:
            assert api2.get("/vip_tiers").status_code == 200
    # The exact rule, checked on every logged request: 429 iff 10 were accepted in the second before.
    log = [r for r in sandbox.requests_log() if r["token"] == token_fingerprint(token)]
    accepted = [r["ts"] for r in log if r["status"] == 200]
    for r in log:
        in_window = sum(1 for t in accepted if r["ts"] - 1.0 < t < r["ts"])
        assert r["status"] == (429 if in_window >= 10 else 200), (r, in_window)
    # OAuth and control endpoints are never rate limited
    token_calls = [
        httpx.post(f"{sandbox.base_url}/oauth2/token", data={"grant_type": "x"}) for _ in range(12)
    ]
    assert {r.status_code for r in token_calls} == {401}
    assert all(sandbox.health()["ok"] for _ in range(12))


def test_the_request_log_proves_no_window_held_more_than_the_limit(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=50, rate_limit=5)
    token = sandbox.issue_token()["access_token"]
    started = time.time()
    with sandbox.api_client(token) as api:
        deadline = time.monotonic() + 1.6
        while time.monotonic() < deadline:
            api.get("/vip_tiers")
    log = [r for r in sandbox.requests_log(since=started) if r["status"] == 200]
    accepted = [r["ts"] for r in log]
    assert len(accepted) >= 6
    worst = max(sum(1 for t in accepted if s <= t < s + 1.0) for s in accepted)
    assert worst == 5


def test_retry_after_is_sent_only_when_configured(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=10, rate_limit=1, retry_after=2)
    with sandbox.api_client(sandbox.issue_token()["access_token"]) as api:
        assert api.get("/vip_tiers").status_code == 200
        resp = api.get("/vip_tiers")
        assert resp.status_code == 429 and resp.headers["retry-after"] == "2"


def test_rate_limit_can_be_changed_at_runtime(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=10, rate_limit=0)
    with sandbox.api_client(sandbox.issue_token()["access_token"]) as api:
        assert all(api.get("/vip_tiers").status_code == 200 for _ in range(15))
        assert sandbox.settings(rate_limit=2)["rate_limit"] == 2
        assert [api.get("/vip_tiers").status_code for _ in range(3)] == [200, 200, 429]


def test_latency_is_added_per_request_without_blocking_others(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=10, rate_limit=0, latency_ms=600)
    token = sandbox.issue_token()["access_token"]
    durations = []

    def call():
        t0 = time.monotonic()
        assert httpx.get(
            f"{sandbox.api_base}/vip_tiers", headers={"Authorization": f"Bearer {token}"}
        ).is_success
        durations.append(time.monotonic() - t0)

    t0 = time.monotonic()
    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(durations) == 4 and min(durations) >= 0.6
    assert time.monotonic() - t0 < 1.8  # four concurrent 0.6 s requests, not 2.4 s in series
    t0 = time.monotonic()
    sandbox.health()  # the control API is not slowed down
    assert time.monotonic() - t0 < 0.5


def test_request_log_records_every_v1_request_without_the_token(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=20, rate_limit=0)
    token = sandbox.issue_token()["access_token"]
    since = time.time()
    with sandbox.api_client(token) as api:
        api.get("/customers", params={"limit": 2, "state": "member"})
        api.get("/customers/1")
    httpx.get(f"{sandbox.api_base}/vip_tiers")
    log = sandbox.requests_log(since=since)
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("GET", "/v1/customers", 200),
        ("GET", "/v1/customers/1", 404),
        ("GET", "/v1/vip_tiers", 401),
    ]
    assert log[0]["query"] == "limit=2&state=member"
    assert log[0]["token"] == hashlib.sha256(token.encode()).hexdigest()[:12] and log[2]["token"] == ""
    assert all(since <= r["ts"] <= time.time() for r in log)
    assert token not in str(log)
    assert len(sandbox.requests_log(since=since, limit=2)) == 2
    assert sandbox.requests_log(since=time.time() + 10) == []
    sandbox.clear_requests_log()
    assert sandbox.requests_log() == []
