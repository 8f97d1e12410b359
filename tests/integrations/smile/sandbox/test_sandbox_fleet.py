"""Many programs (Smile accounts) in one sandbox process: independence, keys and OAuth per program,
per-program rate limits, webhooks and control calls (X-Sandbox-Program)."""

import json
import re

import httpx
import pytest

from integrations.smile.sandbox.fleet import ID_SPAN
from tests.support.sandbox import SandboxError, SandboxProcess, walk_customers

from .conftest import Receiver

pytestmark = pytest.mark.e2e
FIRST_ID = 300_000_000


@pytest.fixture(scope="module")
def shared():
    receiver = Receiver()
    with SandboxProcess(
        customers=200, programs=6, size_distribution="fixed:120", rate_limit=0, webhook_url=receiver.url
    ) as sandbox:
        yield sandbox, receiver
    receiver.close()


@pytest.fixture
def fleet(shared):
    sandbox, receiver = shared
    sandbox.webhook_deliveries(wait=10)
    receiver.reset()
    sandbox.control("DELETE", "webhooks/deliveries")
    yield sandbox, receiver
    sandbox.webhook_deliveries(wait=10)


def client(sandbox, key: str) -> httpx.Client:
    return sandbox.api_client(key)


def ids_of(sandbox, program: int) -> list[int]:
    return [c["id"] for c in sandbox.for_program(program).export()["customers"]]


def test_programs_lists_every_program_with_its_key_account_and_size(fleet):
    sandbox, _ = fleet
    programs = sandbox.programs()
    assert [p["id"] for p in programs] == [1, 2, 3, 4, 5, 6]
    assert [p["account_id"] for p in programs] == [1, 2, 3, 4, 5, 6]
    assert [p["api_key"] for p in programs] == [f"api_fleet_{n}" for n in range(1, 7)]
    assert [p["customers"] for p in programs] == [200, 120, 120, 120, 120, 120]
    assert programs[1]["account_name"] == "Sandbox Store 2" and programs[0]["generated"] is True
    assert sandbox.health()["programs"] == 6


def test_a_program_is_generated_on_first_use_and_its_key_sees_only_its_customers(fleet):
    sandbox, _ = fleet
    assert sandbox.programs()[5]["generated"] is False
    seen = {}
    for n in (1, 2, 6):
        with client(sandbox, f"api_fleet_{n}") as api:
            customers, _ = walk_customers(api, limit=50, include="vip_status")
            tiers = {t["id"] for t in api.get("/vip_tiers").json()["vip_tiers"]}
        seen[n] = [c["id"] for c in customers]
        assert seen[n] == ids_of(sandbox, n) and len(seen[n]) == (200 if n == 1 else 120)
        low = FIRST_ID + (n - 1) * ID_SPAN
        assert all(low <= cid < low + ID_SPAN for cid in seen[n])
        assert {c["vip_tier_id"] for c in customers} - {None} <= tiers and len(tiers) == 4
    assert sandbox.programs()[5]["generated"] is True
    assert not set(seen[1]) & set(seen[2]) and not set(seen[2]) & set(seen[6])
    with client(sandbox, "api_fleet_2") as api:
        assert api.get(f"/customers/{seen[6][0]}").status_code == 404  # another program's customer
        assert api.get(f"/customers/{seen[2][0]}").status_code == 200
    with client(sandbox, "api_fleet_7") as api:
        assert api.get("/customers").status_code == 401  # no such program


def test_a_change_in_one_program_is_invisible_in_another(fleet):
    sandbox, _ = fleet
    two, three = sandbox.for_program(2), sandbox.for_program(3)
    before = {n: sandbox.for_program(n).export() for n in (1, 3)}
    target = two.export()["customers"][0]["id"]
    two.patch_customer(target, points_balance=4242)
    created = two.create_customer(email="only.in.two@example.com")
    tier = two.create_tier("Two only", 7000)
    assert FIRST_ID + ID_SPAN <= created["id"] < FIRST_ID + 2 * ID_SPAN
    assert {n: sandbox.for_program(n).export()["customers"] for n in (1, 3)} == {
        n: before[n]["customers"] for n in (1, 3)
    }
    assert tier["id"] not in {t["id"] for t in three.export()["vip_tiers"]}
    with client(sandbox, "api_fleet_3") as api:
        assert api.get("/customers", params={"email": "only.in.two@example.com"}).json()["customers"] == []
    with client(sandbox, "api_fleet_2") as api:
        assert [
            c["id"]
            for c in api.get("/customers", params={"email": "only.in.two@example.com"}).json()["customers"]
        ] == [created["id"]]
    for call in (lambda: three.patch_customer(target, points_balance=1), lambda: three.get_customer(target)):
        with pytest.raises(SandboxError) as exc:
            call()
        assert exc.value.status == 404  # control calls are scoped too
    two.delete_tier(tier["id"])


def test_oauth_connects_merchant_n_to_program_n(fleet):
    sandbox, _ = fleet
    four = sandbox.for_program(4)
    token = four.issue_token()
    assert (token["account_id"], token["account_name"]) == (4, "Sandbox Store 4")
    refreshed = four.refresh(token["refresh_token"])
    assert refreshed["account_id"] == 4
    with four.api_client(refreshed["access_token"]) as api:
        assert [c["id"] for c in walk_customers(api, limit=250)[0]] == ids_of(sandbox, 4)
    assert sandbox.issue_token()["account_id"] == 1  # no program named: program 1
    page = httpx.get(f"{sandbox.base_url}/oauth2/authorize", params=sandbox.authorize_params()[0])
    assert re.search(
        r'<input type="number" name="program" id="program" min="1" max="6" value="1">', page.text
    )
    params, verifier = sandbox.authorize_params()
    bad = httpx.get(f"{sandbox.base_url}/oauth2/authorize", params={**params, "program": "9"})
    assert bad.status_code == 400 and "Unknown program" in bad.text and "location" not in bad.headers
    picked = httpx.post(
        f"{sandbox.base_url}/oauth2/authorize", data={**params, "program": "5", "approve": "1"}
    )
    code = re.search(r"code=([^&]+)", picked.headers["location"]).group(1)
    body = httpx.post(
        f"{sandbox.base_url}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
        },
        auth=(sandbox.client_id, sandbox.client_secret),
    ).json()
    assert body["account_id"] == 5


def test_webhooks_carry_each_programs_account_id(fleet):
    sandbox, receiver = fleet
    for n in (1, 2, 5):
        view = sandbox.for_program(n)
        view.patch_customer(view.export()["customers"][1]["id"], points_balance=n)
    sandbox.for_program(3).ping_webhook()
    bodies = [json.loads(body) for _, body in receiver.wait_for(4)]
    assert [(b["topic"], b["account_id"]) for b in bodies] == [
        ("customer/updated", 1),
        ("customer/updated", 2),
        ("customer/updated", 5),
        ("ping", 3),
    ]
    assert [d["program"] for d in sandbox.for_program(2).webhook_deliveries()] == [2]
    assert len(sandbox.webhook_deliveries()) == 4


def test_requests_faults_and_tokens_are_per_program_with_the_header_and_global_without(fleet):
    sandbox, _ = fleet
    sandbox.clear_requests_log()
    two, three = sandbox.for_program(2), sandbox.for_program(3)
    tokens = {n: sandbox.for_program(n).issue_token()["access_token"] for n in (2, 3)}
    with client(sandbox, tokens[2]) as api2, client(sandbox, tokens[3]) as api3:
        two.fault("503", count=5)
        assert (api2.get("/vip_tiers").status_code, api3.get("/vip_tiers").status_code) == (503, 200)
        assert [f["program"] for f in sandbox.faults()] == [2]
        sandbox.clear_faults()
        sandbox.fault("500", count=2)  # without the header: every program
        assert (api2.get("/vip_tiers").status_code, api3.get("/vip_tiers").status_code) == (500, 500)
        assert {r["program"] for r in two.requests_log()} == {2}
        assert {r["program"] for r in sandbox.requests_log()} == {2, 3}
        assert three.revoke_tokens() >= 2  # program 3's access and refresh tokens only
        assert (api2.get("/vip_tiers").status_code, api3.get("/vip_tiers").status_code) == (200, 401)
    for bad in ("7", "0", "two"):
        resp = httpx.get(
            f"{sandbox.base_url}/_sandbox/export",
            headers={"X-Sandbox-Control": sandbox.control_token, "X-Sandbox-Program": bad},
        )
        assert resp.status_code == 404 and "No program" in resp.json()["error"]["message"]


def test_reset_regenerates_one_program_only(fleet):
    sandbox, _ = fleet
    before = ids_of(sandbox, 2)
    assert sandbox.for_program(3).reset(customers=30, seed=9)["customers"] == 30
    assert len(ids_of(sandbox, 3)) == 30 and ids_of(sandbox, 2) == before
    assert sandbox.health()["customers"] >= 200


def test_rate_limits_are_per_program_token(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=20, programs=3, size_distribution="fixed:10", rate_limit=3)
    with client(sandbox, "api_fleet_2") as two, client(sandbox, "api_fleet_3") as three:
        assert [two.get("/vip_tiers").status_code for _ in range(4)] == [200, 200, 200, 429]
        assert three.get("/vip_tiers").status_code == 200
