"""The modes for Smile's unknowns against a running sandbox, switched at runtime (PATCH
/_sandbox/settings) and from the command line: no VIP program, malformed records, updated_at_min,
rate-limit headers, tier deletion, webhook payloads. (Cursor modes: test_sandbox_cursor_modes.py;
account id / name and token endpoint client auth: test_sandbox_oauth_modes.py.)"""

import json
import subprocess
import sys
import time

import httpx
import pytest

from integrations.smile.sandbox.config import PROJECT_ROOT
from tests.support import smile_spec as spec
from tests.support.sandbox import MISSING, SandboxError, SandboxProcess, walk_customers

from .conftest import DEFAULT_MODES, Receiver

pytestmark = pytest.mark.e2e


def assert_error(resp, status):
    assert resp.status_code == status, resp.text
    assert spec.errors(spec.error_validator(), resp.json()) == []


@pytest.fixture(scope="module")
def shared():
    receiver = Receiver()
    with SandboxProcess(customers=300, seed=6, rate_limit=0, webhook_url=receiver.url) as sandbox:
        yield sandbox, receiver
    receiver.close()


@pytest.fixture
def hooked(shared):
    """The module's sandbox (default modes) + receiver, every earlier delivery finished and forgotten."""
    sandbox, receiver = shared
    sandbox.webhook_deliveries(wait=10)
    receiver.reset()
    yield sandbox, receiver
    sandbox.webhook_deliveries(wait=10)
    sandbox.settings(**DEFAULT_MODES)


@pytest.fixture
def api(shared):
    sandbox, _ = shared
    with sandbox.api_client(sandbox.issue_token()["access_token"]) as client:
        yield client


def last_webhook_customer(receiver, count: int) -> dict:
    return json.loads(receiver.wait_for(count)[-1][1])["data"]["customer"]


@pytest.mark.parametrize("status", [403, 404])
def test_a_program_without_vip_has_no_tiers_anywhere_until_switched_back(hooked, api, status):
    sandbox, receiver = hooked
    tiered = next(c for c in sandbox.export()["customers"] if c["vip_tier_id"] is not None)
    sandbox.settings(vip_tiers_status=status)
    assert_error(api.get("/vip_tiers"), status)
    customers, pages = walk_customers(api, limit=250, include="vip_status")
    assert len(customers) == 300 and all(
        spec.errors(spec.response_validator("/customers"), p) == [] for p in pages
    )
    assert all(c["vip_tier_id"] is None and c["vip_status"]["vip_tier_id"] is None for c in customers)
    assert all(c["vip_status"]["next_vip_tier_id"] is None for c in customers)
    one = api.get(
        f"/customers/{tiered['id']}",
        params={"include": "vip_status,vip_status.vip_tier,vip_status.next_vip_tier"},
    ).json()["customer"]
    assert one["vip_status"]["vip_tier"] is None and one["vip_status"]["next_vip_tier"] is None
    truth = sandbox.export()
    assert truth["vip_tiers"] == [] and {c["vip_tier_id"] for c in truth["customers"]} == {None}
    sandbox.patch_customer(tiered["id"], points_balance=5)
    assert last_webhook_customer(receiver, 1)["vip_status"]["vip_tier_id"] is None
    sandbox.settings(vip_tiers_status=200)
    assert len(api.get("/vip_tiers").json()["vip_tiers"]) == 4
    assert api.get(f"/customers/{tiered['id']}").json()["customer"]["vip_tier_id"] == tiered["vip_tier_id"]


def test_the_no_vip_mode_from_the_command_line(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=40, vip_tiers_status=403)
    with sandbox.api_client(sandbox.issue_token()["access_token"]) as client:
        assert_error(client.get("/vip_tiers"), 403)
        assert {c["vip_tier_id"] for c in client.get("/customers").json()["customers"]} == {None}


CORRUPTIONS = [
    ("points_balance", None),
    ("points_balance", MISSING),
    ("state", None),
    ("state", MISSING),
    ("created_at", None),
    ("updated_at", "yesterday"),
    ("id", "123"),
    ("email", 42),
    ("vip_status", "oops"),
    ("vip_status", MISSING),
]


@pytest.mark.parametrize(("field", "value"), CORRUPTIONS)
def test_a_corrupt_customer_renders_wrong_everywhere_until_repaired(hooked, api, field, value):
    sandbox, receiver = hooked
    walked, _ = walk_customers(api, limit=250, include="vip_status")
    position = 17
    target, before = walked[position]["id"], walked[position]

    def shows_it(customer: dict) -> bool:
        return field not in customer if value is MISSING else customer[field] == value

    assert shows_it(sandbox.corrupt_customer(target, field, value))
    after, pages = walk_customers(api, limit=250, include="vip_status")
    assert shows_it(after[position]) and len(after) == len(walked)
    assert all(after[i] == walked[i] for i in range(len(walked)) if i != position)
    if value is not MISSING:  # a wrong type or a null breaks Smile's published schema
        assert spec.errors(spec.response_validator("/customers"), pages[0], allow_null_email=True)
    retrieved = api.get(f"/customers/{target}", params={"include": "vip_status"}).json()["customer"]
    assert shows_it(retrieved)
    assert shows_it(last_webhook_customer(receiver, 1))
    truth = next(c for c in sandbox.export()["customers"] if c["id"] == target)
    assert truth["corrupt"] == {field: {"removed": True} if value is MISSING else {"value": value}}
    assert truth["updated_at"] > before["updated_at"]  # a change in Smile broke the record
    assert truth["points_balance"] == before["points_balance"] and truth["state"] == before["state"]
    repaired = sandbox.repair_customer(target)
    assert repaired[field] == before[field] or field == "updated_at"
    assert "corrupt" not in next(c for c in sandbox.export()["customers"] if c["id"] == target)
    assert walk_customers(api, limit=250)[0][position]["id"] == target


def test_corrupting_needs_a_known_field_and_customer(hooked):
    sandbox, _ = hooked
    target = sandbox.export()["customers"][0]["id"]
    for call, status in (
        (lambda: sandbox.corrupt_customer(target, "first_name", None), 422),
        (lambda: sandbox.control("POST", f"customers/{target}/corrupt", json={"field": "id", "x": 1}), 422),
        (lambda: sandbox.corrupt_customer(1, "state", None), 404),
        (lambda: sandbox.repair_customer(1), 404),
        (lambda: sandbox.control("GET", f"customers/{target}/corrupt"), 405),
    ):
        with pytest.raises(SandboxError) as exc:
            call()
        assert exc.value.status == status


def test_updated_at_min_is_inclusive_by_default_and_exclusive_in_that_mode(hooked, api):
    sandbox, _ = hooked
    changed = sandbox.patch_customer(sandbox.export()["customers"][5]["id"], points_balance=77)
    stamp = changed["updated_at"]

    def found(at: str) -> set[int]:
        return {c["id"] for c in api.get("/customers", params={"updated_at_min": at}).json()["customers"]}

    assert changed["id"] in found(stamp)
    sandbox.settings(updated_at_min="exclusive")
    assert changed["id"] not in found(stamp)
    assert changed["id"] in found(stamp.replace(stamp[20:23], f"{int(stamp[20:23]) - 1:03d}"))


def test_rate_limit_headers_are_sent_only_in_that_mode(hooked, api):
    sandbox, _ = hooked
    sandbox.settings(rate_limit=3)
    plain = [api.get("/vip_tiers") for _ in range(4)]
    assert [r.status_code for r in plain] == [200, 200, 200, 429]
    assert not any(
        k.lower().startswith("x-ratelimit") or k.lower() == "retry-after" for r in plain for k in r.headers
    )
    time.sleep(1.05)
    sandbox.settings(rate_limit_headers=True)
    answers = [api.get("/vip_tiers") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-limit"] for r in answers] == ["3"] * 4
    assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert answers[3].headers["retry-after"] == "1" and "retry-after" not in answers[0].headers
    assert "x-ratelimit-limit" not in httpx.get(f"{sandbox.api_base}/vip_tiers").headers  # 401: not counted


def test_rate_limit_headers_from_the_command_line(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=10, rate_limit=2, rate_limit_headers=True)
    with sandbox.api_client(sandbox.issue_token()["access_token"]) as client:
        assert client.get("/points_settings").headers["x-ratelimit-remaining"] == "1"


def test_deleting_a_tier_can_skip_the_updated_at_bump_and_the_webhooks(hooked, api):
    sandbox, receiver = hooked
    targets = [c["id"] for c in sandbox.export()["customers"][20:23]]
    for bump, hooks in ((False, False), (True, True), (False, True), (True, False)):
        sandbox.settings(tier_delete_bumps_updated_at=bump, tier_delete_webhooks=hooks)
        tier = sandbox.create_tier("Temporary", 3)
        before = {cid: sandbox.patch_customer(cid, vip_tier_id=tier["id"]) for cid in targets}
        sandbox.webhook_deliveries(wait=10)
        receiver.reset()
        since = max(c["updated_at"] for c in before.values())
        assert sandbox.delete_tier(tier["id"])["customers_moved"] == 3
        after = {c["id"]: c for c in sandbox.export()["customers"] if c["id"] in before}
        assert all(c["vip_tier_id"] is None for c in after.values())
        assert all((after[i]["updated_at"] > before[i]["updated_at"]) is bump for i in targets)
        delta = api.get("/customers", params={"updated_at_min": since, "limit": 250}).json()["customers"]
        assert (set(targets) <= {c["id"] for c in delta}) is bump
        sandbox.webhook_deliveries(wait=10)
        assert len(receiver.received) == (3 if hooks else 0)


def test_webhooks_can_leave_out_vip_status(hooked):
    sandbox, receiver = hooked
    target = sandbox.export()["customers"][2]["id"]
    with_status = sandbox.patch_customer(target, points_balance=11)
    assert last_webhook_customer(receiver, 1) == with_status
    sandbox.settings(webhook_vip_status=False)
    served = sandbox.patch_customer(target, points_balance=12)
    assert "vip_status" in served
    sent = last_webhook_customer(receiver, 2)
    assert "vip_status" not in sent and sent == {k: v for k, v in served.items() if k != "vip_status"}


def test_webhook_vip_status_from_the_command_line(smile_sandbox_factory, webhook_receiver):
    sandbox = smile_sandbox_factory(customers=5, webhook_url=webhook_receiver.url, webhook_vip_status=False)
    sandbox.patch_customer(sandbox.export()["customers"][0]["id"], points_balance=1)
    assert "vip_status" not in json.loads(webhook_receiver.wait_for(1)[0][1])["data"]["customer"]


@pytest.mark.parametrize(
    "values",
    [
        {"vip_tiers_status": 500},
        {"token_auth": "digest"},
        {"updated_at_min": "sometimes"},
        {"no_account_id": "yes"},
        {"rate_limit_headers": 1},
        {"tier_delete_webhooks": None},
        {"change_rate": "fast"},
        {"programs": 3},
    ],
)
def test_bad_settings_are_422_and_change_nothing(hooked, values):
    sandbox, _ = hooked
    before = sandbox.control("GET", "settings")
    with pytest.raises(SandboxError) as exc:
        sandbox.settings(**values)
    assert exc.value.status == 422 and sandbox.control("GET", "settings") == before


@pytest.mark.parametrize(
    "args",
    [
        ["--tier-delete-webhooks", "maybe"],
        ["--cursor-mode", "offset"],
        ["--vip-tiers-status", "500"],
        ["--size-distribution", "pareto:1"],
        ["--change-rate", "1/15x"],
        ["--programs", "0"],
    ],
)
def test_bad_mode_options_fail_fast(args, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "integrations.smile.sandbox",
            "--port",
            "0",
            "--db",
            str(tmp_path / "x"),
            *args,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and args[0] in result.stderr
