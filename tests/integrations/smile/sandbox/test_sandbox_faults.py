"""Fault injection: each kind, count-limited and time-boxed, path prefixes, clearing."""

import json
import time

import httpx
import pytest

from tests.support import smile_spec as spec
from tests.support.sandbox import SandboxError

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sandbox(smile_sandbox):
    yield smile_sandbox
    smile_sandbox.clear_faults()


@pytest.fixture
def api(sandbox, sandbox_token):
    sandbox.clear_faults()
    with sandbox.api_client(sandbox_token, timeout=10.0) as client:
        yield client
    sandbox.clear_faults()


@pytest.mark.parametrize(("kind", "status"), [("429", 429), ("500", 500), ("503", 503)])
def test_error_faults_use_smiles_error_body_for_count_requests(sandbox, api, kind, status):
    fault = sandbox.fault(kind, count=2)
    assert fault["kind"] == kind and fault["count"] == 2
    first, second = api.get("/customers"), api.get("/vip_tiers")
    assert first.status_code == second.status_code == status
    assert spec.errors(spec.error_validator(), first.json()) == []
    assert "retry-after" not in first.headers
    assert api.get("/customers").status_code == 200
    assert sandbox.faults() == []


def test_malformed_answers_200_with_a_body_that_is_not_json(sandbox, api):
    sandbox.fault("malformed")
    resp = api.get("/customers")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.content)
    assert api.get("/customers").json()["customers"]


def test_hang_outlasts_the_client_timeout_and_clearing_releases_it(sandbox, api, sandbox_token):
    sandbox.fault("hang", count=1, hang_seconds=30)
    t0 = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(
            f"{sandbox.api_base}/customers", headers={"Authorization": f"Bearer {sandbox_token}"}, timeout=0.5
        )
    assert time.monotonic() - t0 < 2
    sandbox.clear_faults()
    assert api.get("/customers").status_code == 200
    assert any(r["status"] == 0 for r in sandbox.requests_log(limit=100_000))  # logged as "no answer"


def test_latency_fault_slows_count_requests(sandbox, api):
    sandbox.fault("latency", count=1, latency_ms=400)
    t0 = time.monotonic()
    assert api.get("/vip_tiers").status_code == 200
    assert time.monotonic() - t0 >= 0.4
    t0 = time.monotonic()
    api.get("/vip_tiers")
    assert time.monotonic() - t0 < 0.3


def test_a_time_boxed_storm_ends_by_itself(sandbox, api):
    sandbox.fault("503", seconds=1)
    listed = sandbox.faults()
    assert len(listed) == 1 and 0 < listed[0]["remaining_seconds"] <= 1
    assert [api.get("/vip_tiers").status_code for _ in range(5)] == [503] * 5
    time.sleep(1.05)
    assert api.get("/vip_tiers").status_code == 200
    assert sandbox.faults() == []


def test_path_prefix_limits_the_fault(sandbox, api):
    sandbox.fault("500", count=5, path_prefix="/v1/vip_tiers")
    assert api.get("/customers").status_code == 200
    assert api.get("/vip_tiers").status_code == 500
    assert sandbox.faults()[0]["count"] == 4


def test_faults_can_target_the_token_endpoint(sandbox, api):
    sandbox.fault("503", count=1, path_prefix="/oauth2/token")
    with pytest.raises(SandboxError) as exc:
        sandbox.issue_token()
    assert exc.value.status == 503
    assert sandbox.issue_token()["access_token"]


def test_faults_come_before_authentication(sandbox, api):
    sandbox.fault("503", count=1)
    assert httpx.get(f"{sandbox.api_base}/customers").status_code == 503
    assert httpx.get(f"{sandbox.api_base}/customers").status_code == 401


def test_clear_and_invalid_specs(sandbox, api):
    sandbox.fault("429", count=100)
    sandbox.fault("500", seconds=30)
    assert len(sandbox.faults()) == 2
    sandbox.clear_faults()
    assert sandbox.faults() == [] and api.get("/customers").status_code == 200
    for bad in (
        {"kind": "418"},
        {"kind": "500", "count": 0},
        {"kind": "500", "seconds": -1},
        {"kind": "500", "path_prefix": "/_sandbox/"},
    ):
        with pytest.raises(SandboxError) as exc:
            sandbox.control("POST", "faults", json=bad)
        assert exc.value.status == 422


def test_the_control_api_needs_its_token(sandbox):
    assert httpx.get(f"{sandbox.base_url}/_sandbox/faults").status_code == 401
    resp = httpx.post(
        f"{sandbox.base_url}/_sandbox/faults", json={"kind": "500"}, headers={"X-Sandbox-Control": "wrong"}
    )
    assert resp.status_code == 401 and sandbox.faults() == []
    assert httpx.get(f"{sandbox.base_url}/_sandbox/health").json()["ok"] is True
