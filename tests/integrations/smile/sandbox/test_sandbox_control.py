"""Control API: customer and tier changes, consistency of cursors mid-scan, export, reset."""

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.sandbox import SandboxError, walk_customers

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(smile_sandbox, sandbox_token):
    with smile_sandbox.api_client(sandbox_token) as client:
        yield client


def first_ids(api, n=5):
    return [c["id"] for c in api.get("/customers", params={"limit": n}).json()["customers"]]


def test_create_puts_the_customer_first_with_a_new_highest_id(smile_sandbox, api):
    top = first_ids(api)[0]
    created = smile_sandbox.create_customer(
        email="New.Shopper@Example.com", first_name="New", state="member", points_balance=42
    )
    assert created["id"] > top and first_ids(api)[0] == created["id"]
    assert created["created_at"] == created["updated_at"] and created["email"] == "New.Shopper@Example.com"
    assert created["vip_status"]["vip_tier_id"] is None and created["last_name"] is None
    fetched = api.get(f"/customers/{created['id']}", params={"include": "vip_status"}).json()["customer"]
    assert fetched == created
    found = api.get("/customers", params={"email": "new.shopper@example.com"}).json()["customers"]
    assert [c["id"] for c in found] == [created["id"]]


def test_ids_are_never_reused(smile_sandbox):
    a = smile_sandbox.create_customer()
    smile_sandbox.delete_customer(a["id"])
    assert smile_sandbox.create_customer()["id"] > a["id"]


def test_patch_changes_fields_and_bumps_updated_at_strictly(smile_sandbox, api):
    target = first_ids(api, 20)[-1]
    before = smile_sandbox.get_customer(target)
    tier = api.get("/vip_tiers").json()["vip_tiers"][2]
    one = smile_sandbox.patch_customer(
        target, email="changed@example.com", points_balance=7, vip_tier_id=tier["id"]
    )
    two = smile_sandbox.patch_customer(target, state="disabled")
    assert before["updated_at"] < one["updated_at"] < two["updated_at"]
    assert two["created_at"] == before["created_at"]
    assert (two["email"], two["points_balance"], two["state"]) == ("changed@example.com", 7, "disabled")
    assert two["vip_tier_id"] == two["vip_status"]["vip_tier_id"] == tier["id"]
    assert two["vip_status"]["vip_tier_expires_at"].endswith("-12-31T23:59:59.999Z")
    assert api.get(f"/customers/{target}").json()["customer"]["updated_at"] == two["updated_at"]
    cleared = smile_sandbox.patch_customer(target, vip_tier_id=None)
    assert (
        cleared["vip_status"]["vip_tier_id"] is None and cleared["vip_status"]["vip_tier_expires_at"] is None
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"id": 5},
        {"updated_at": "2020-01-01T00:00:00Z"},
        {"state": "guest"},
        {"points_balance": "10"},
        {"vip_tier_id": 1},
        {"date_of_birth": "1990-02-30x"},
        {"nickname": "x"},
    ],
)
def test_invalid_patches_are_422(smile_sandbox, api, fields):
    with pytest.raises(SandboxError) as exc:
        smile_sandbox.patch_customer(first_ids(api)[0], **fields)
    assert exc.value.status == 422


def test_unknown_customers_are_404_in_the_control_api(smile_sandbox):
    for call in (
        lambda: smile_sandbox.patch_customer(1, points_balance=1),
        lambda: smile_sandbox.delete_customer(1),
        lambda: smile_sandbox.get_customer(1),
    ):
        with pytest.raises(SandboxError) as exc:
            call()
        assert exc.value.status == 404


def test_delete_is_a_hard_delete(smile_sandbox, api):
    target = first_ids(api, 3)[1]
    smile_sandbox.delete_customer(target)
    assert api.get(f"/customers/{target}").status_code == 404
    assert target not in first_ids(api, 10)
    assert target not in {c["id"] for c in smile_sandbox.export()["customers"]}


def test_cursors_stay_correct_while_customers_change_mid_scan(smile_sandbox, api):
    at_start = [c["id"] for c in smile_sandbox.export()["customers"]]
    seen, cursor, page_no = [], None, 0
    changed_email, deleted_unseen, deleted_seen, created = None, None, None, []
    while True:
        params = {"limit": 100, "include": "vip_status"} | ({"cursor": cursor} if cursor else {})
        page = api.get("/customers", params=params).json()
        seen += page["customers"]
        page_no += 1
        if page_no == 2:
            unseen = [i for i in at_start if i < seen[-1]["id"]]
            created = [smile_sandbox.create_customer(email=f"mid{i}@example.com")["id"] for i in range(3)]
            deleted_unseen, changed_email = unseen[10], unseen[500]
            smile_sandbox.delete_customer(deleted_unseen)
            smile_sandbox.patch_customer(changed_email, email="moved@example.com")
            deleted_seen = seen[5]["id"]
            smile_sandbox.delete_customer(deleted_seen)
        cursor = page["metadata"]["next_cursor"]
        if not cursor:
            break
    ids = [c["id"] for c in seen]
    assert ids == sorted(set(ids), reverse=True)
    assert set(ids) == set(at_start) - {deleted_unseen}
    assert not set(created) & set(ids)
    assert next(c for c in seen if c["id"] == changed_email)["email"] == "moved@example.com"


def test_tier_create_rename_reorder_and_delete(smile_sandbox, api):
    tiers = api.get("/vip_tiers").json()["vip_tiers"]
    new = smile_sandbox.create_tier("Diamond", 5000, perks=["Gifts"])
    listed = api.get("/vip_tiers", params={"include": "perks"}).json()["vip_tiers"]
    assert listed[-1]["id"] == new["id"] and listed[-1]["perks"] == [{"name": "Gifts"}]
    smile_sandbox.patch_tier(new["id"], name="Emerald", milestone=50)
    listed = api.get("/vip_tiers").json()["vip_tiers"]
    assert listed[0]["name"] == "Emerald" and listed[0]["milestone"] == 50
    # vip_status follows the tiers at once: the lowest tier is the next one for customers without a tier
    customers = api.get("/customers", params={"limit": 250, "include": "vip_status"}).json()["customers"]
    untiered = [c["vip_status"] for c in customers if c["vip_status"]["vip_tier_id"] is None]
    assert untiered and all(s["next_vip_tier_id"] == new["id"] for s in untiered)
    smile_sandbox.delete_tier(new["id"])
    assert api.get("/vip_tiers").json()["vip_tiers"] == tiers
    with pytest.raises(SandboxError) as exc:
        smile_sandbox.patch_tier(new["id"], name="Gone")
    assert exc.value.status == 404
    with pytest.raises(SandboxError) as exc:
        smile_sandbox.create_tier("", 10)
    assert exc.value.status == 422


def test_deleting_a_tier_moves_its_customers_to_no_tier_and_bumps_them(smile_sandbox, api):
    gold = next(t for t in api.get("/vip_tiers").json()["vip_tiers"] if t["name"] == "Gold")
    before = {c["id"]: c for c in smile_sandbox.export()["customers"] if c["vip_tier_id"] == gold["id"]}
    assert before
    result = smile_sandbox.delete_tier(gold["id"])
    assert result["customers_moved"] == len(before)
    after = {c["id"]: c for c in smile_sandbox.export()["customers"] if c["id"] in before}
    assert all(c["vip_tier_id"] is None and c["vip_tier_expires_at"] is None for c in after.values())
    assert all(after[i]["updated_at"] > before[i]["updated_at"] for i in before)
    customers, _ = walk_customers(api, limit=250, include="vip_status")
    assert gold["id"] not in {c["vip_status"]["vip_tier_id"] for c in customers}
    assert gold["id"] not in {c["vip_status"]["next_vip_tier_id"] for c in customers}


def test_export_is_the_ground_truth_of_the_api(smile_sandbox, api):
    truth = smile_sandbox.export()
    assert {"customers", "vip_tiers", "meta"} <= set(truth)
    customers, _ = walk_customers(api, limit=250, include="vip_status")
    by_id = {c["id"]: c for c in truth["customers"]}
    assert len(customers) == len(by_id) == truth["meta"]["customers"]
    for c in customers:
        raw = by_id[c["id"]]
        assert (raw["email"], raw["state"], raw["points_balance"], raw["created_at"], raw["updated_at"]) == (
            c["email"],
            c["state"],
            c["points_balance"],
            c["created_at"],
            c["updated_at"],
        )
        assert (raw["vip_tier_id"], raw["vip_tier_expires_at"]) == (
            c["vip_status"]["vip_tier_id"],
            c["vip_status"]["vip_tier_expires_at"],
        )
    ndjson = httpx.get(
        f"{smile_sandbox.base_url}/_sandbox/export",
        params={"format": "ndjson"},
        headers={"X-Sandbox-Control": smile_sandbox.control_token},
    )
    lines = ndjson.text.splitlines()
    assert len(lines) == len(truth["customers"]) + len(truth["vip_tiers"])


def test_reset_regenerates_in_place_and_tokens_survive(smile_sandbox, api):
    health = smile_sandbox.reset(customers=300, seed=7, program="lifetime", tiers=3)
    assert (health["customers"], health["seed"], health["program"], health["tiers"]) == (
        300,
        7,
        "lifetime",
        3,
    )
    customers, _ = walk_customers(api, limit=250, include="vip_status")
    assert len(customers) == 300
    assert all(c["vip_status"]["vip_tier_expires_at"] is None for c in customers)
    assert len(api.get("/vip_tiers").json()["vip_tiers"]) == 3
    with pytest.raises(SandboxError):
        smile_sandbox.reset(tiers=5)
    smile_sandbox.reset(customers=2000, seed=1, program="calendar", tiers=4)
    assert smile_sandbox.health()["customers"] == 2000


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    customers=st.integers(0, 400),
    seed=st.integers(1, 10_000),
    limit=st.integers(1, 250),
    state=st.sampled_from([None, "member", "candidate", "disabled"]),
)
def test_any_walk_matches_the_ground_truth(smile_sandbox, api, customers, seed, limit, state):
    smile_sandbox.reset(customers=customers, seed=seed)
    params = {"limit": limit} | ({"state": state} if state else {})
    walked, pages = walk_customers(api, **params)
    truth = smile_sandbox.export()["customers"]
    expected = [c["id"] for c in truth if state in (None, c["state"])]
    assert [c["id"] for c in walked] == sorted(expected, reverse=True)
    assert len(pages) == max(1, -(-len(expected) // limit))
