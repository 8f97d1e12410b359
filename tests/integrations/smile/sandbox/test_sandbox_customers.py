"""REST reads against a running sandbox (read-only here): pagination, filters, includes, tiers, spec."""

import base64
import re
from datetime import datetime

import pytest

from integrations.smile.types import CustomerData
from tests.support import smile_spec as spec
from tests.support.sandbox import walk_customers

pytestmark = pytest.mark.e2e
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture(scope="module")
def truth(smile_sandbox):
    return smile_sandbox.export()


def assert_error(resp, status):
    assert resp.status_code == status, resp.text
    assert spec.errors(spec.error_validator(), resp.json()) == []


def test_walking_the_cursor_chain_returns_everyone_once_newest_first(sandbox_api, truth):
    customers, pages = walk_customers(sandbox_api, limit=250, include="vip_status")
    ids = [c["id"] for c in customers]
    assert ids == sorted((c["id"] for c in truth["customers"]), reverse=True)
    assert len(ids) == len(set(ids)) == 2000 and len(pages) == 8
    assert pages[0]["metadata"]["previous_cursor"] == ""
    assert all(p["metadata"]["previous_cursor"] for p in pages[1:])
    assert all(p["metadata"]["next_cursor"] for p in pages[:-1])
    assert pages[-1]["metadata"]["next_cursor"] is None


def test_cursors_are_base64_keysets_like_smiles_example(sandbox_api):
    page = sandbox_api.get("/customers", params={"limit": 3}).json()
    raw = base64.b64decode(page["metadata"]["next_cursor"]).decode()
    assert raw == f"id:{page['customers'][-1]['id']},direction:next"


def test_previous_cursor_leads_back_to_the_page_before(sandbox_api):
    first = sandbox_api.get("/customers", params={"limit": 7}).json()
    second = sandbox_api.get(
        "/customers", params={"limit": 7, "cursor": first["metadata"]["next_cursor"]}
    ).json()
    back = sandbox_api.get(
        "/customers", params={"limit": 7, "cursor": second["metadata"]["previous_cursor"]}
    ).json()
    assert [c["id"] for c in back["customers"]] == [c["id"] for c in first["customers"]]
    assert back["metadata"]["previous_cursor"] == ""
    assert back["metadata"]["next_cursor"] is not None


@pytest.mark.parametrize(("params", "count"), [({}, 50), ({"limit": 1}, 1), ({"limit": 250}, 250)])
def test_limit_default_and_bounds(sandbox_api, params, count):
    assert len(sandbox_api.get("/customers", params=params).json()["customers"]) == count


@pytest.mark.parametrize("limit", ["0", "251", "-1", "abc", "", "1.5", "10000000"])
def test_a_limit_outside_1_to_250_is_400(sandbox_api, limit):
    assert_error(sandbox_api.get("/customers", params={"limit": limit}), 400)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        base64.b64encode(b"id:abc,direction:next").decode(),
        base64.b64encode(b"id:12,direction:sideways").decode(),
        "aWQ6M",
    ],
)
def test_a_malformed_cursor_is_400(sandbox_api, cursor):
    assert_error(sandbox_api.get("/customers", params={"cursor": cursor}), 400)


def test_vip_status_only_with_include(sandbox_api):
    plain = sandbox_api.get("/customers", params={"limit": 5}).json()["customers"]
    assert all("vip_status" not in c for c in plain)
    assert {k for c in plain for k in c} == spec.customer_properties() - {"vip_status"}
    full = sandbox_api.get("/customers", params={"limit": 5, "include": "vip_status"}).json()["customers"]
    assert all(set(c) == spec.customer_properties() for c in full)
    assert all(set(c["vip_status"]) == spec.vip_status_properties() for c in full)
    assert all(c["vip_tier_id"] == c["vip_status"]["vip_tier_id"] for c in full)
    assert_error(sandbox_api.get("/customers", params={"include": "vip_tier"}), 400)


@pytest.mark.parametrize("state", ["member", "candidate", "disabled"])
def test_state_filter(sandbox_api, truth, state):
    customers, _ = walk_customers(sandbox_api, limit=250, state=state)
    expected = sorted((c["id"] for c in truth["customers"] if c["state"] == state), reverse=True)
    assert [c["id"] for c in customers] == expected and expected
    assert {c["state"] for c in customers} == {state}


def test_an_unknown_state_is_400(sandbox_api):
    assert_error(sandbox_api.get("/customers", params={"state": "guest"}), 400)


def test_email_filter_is_exact_and_case_insensitive(sandbox_api, truth):
    by_email: dict[str, list[int]] = {}
    for c in truth["customers"]:
        if c["email"]:
            by_email.setdefault(c["email"].lower(), []).append(c["id"])
    shared = next(e for e, ids in by_email.items() if len(ids) > 1)
    for query in (shared, shared.upper()):
        found = sandbox_api.get("/customers", params={"email": query}).json()
        assert sorted(c["id"] for c in found["customers"]) == sorted(by_email[shared])
        assert found["metadata"] == {"next_cursor": None, "previous_cursor": ""}
    assert sandbox_api.get("/customers", params={"email": shared[:-1]}).json()["customers"] == []


def test_updated_at_min_is_inclusive(sandbox_api, truth):
    stamps = sorted(c["updated_at"] for c in truth["customers"])
    threshold = stamps[len(stamps) // 2]
    customers, _ = walk_customers(sandbox_api, limit=250, updated_at_min=threshold)
    expected = {c["id"] for c in truth["customers"] if c["updated_at"] >= threshold}
    assert {c["id"] for c in customers} == expected
    assert threshold in {c["updated_at"] for c in customers}
    same = sandbox_api.get(
        "/customers", params={"limit": 250, "updated_at_min": threshold.replace("Z", "+00:00")}
    )
    assert same.json()["customers"][0]["id"] == customers[0]["id"]


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01T00:00:00Z", ""])
def test_an_invalid_updated_at_min_is_400(sandbox_api, value):
    assert_error(sandbox_api.get("/customers", params={"updated_at_min": value}), 400)


def test_filters_combine(sandbox_api, truth):
    threshold = sorted(c["updated_at"] for c in truth["customers"])[1500]
    customers, _ = walk_customers(sandbox_api, limit=100, state="member", updated_at_min=threshold)
    expected = [
        c["id"] for c in truth["customers"] if c["state"] == "member" and c["updated_at"] >= threshold
    ]
    assert [c["id"] for c in customers] == sorted(expected, reverse=True) and expected


def test_retrieve_a_customer_with_each_include(sandbox_api, truth):
    tiers = {t["id"]: t for t in truth["vip_tiers"]}
    target = next(c for c in truth["customers"] if c["vip_tier_id"] is not None)
    plain = sandbox_api.get(f"/customers/{target['id']}").json()["customer"]
    assert plain["id"] == target["id"] and "vip_status" not in plain
    full = sandbox_api.get(
        f"/customers/{target['id']}",
        params={"include": "vip_status,vip_status.vip_tier,vip_status.next_vip_tier"},
    ).json()
    status = full["customer"]["vip_status"]
    tier = tiers[target["vip_tier_id"]]
    assert status["vip_tier"] == {"id": tier["id"], "name": tier["name"], "image_url": tier["image_url"]}
    assert status["next_vip_tier"] is None or status["next_vip_tier"]["id"] == status["next_vip_tier_id"]
    assert spec.errors(spec.response_validator("/customers/{id}"), full) == []
    only = sandbox_api.get(f"/customers/{target['id']}", params={"include": "vip_status"}).json()["customer"]
    assert "vip_tier" not in only["vip_status"] and "next_vip_tier" not in only["vip_status"]
    assert_error(sandbox_api.get(f"/customers/{target['id']}", params={"include": "orders"}), 400)


def test_retrieve_unknown_customer_is_404_with_smiles_error_body(sandbox_api):
    resp = sandbox_api.get("/customers/1")
    assert_error(resp, 404)
    assert resp.json()["error"]["message"] == "Customer not found."
    assert_error(sandbox_api.get("/customers/abc"), 404)


def test_vip_tiers_sorted_by_milestone_without_metadata(sandbox_api):
    body = sandbox_api.get("/vip_tiers").json()
    assert set(body) == {"vip_tiers"}
    milestones = [t["milestone"] for t in body["vip_tiers"]]
    assert milestones == sorted(milestones) and len(milestones) == 4
    assert [t["name"] for t in body["vip_tiers"]] == ["Bronze", "Silver", "Gold", "Platinum"]
    assert all(set(t) == {"id", "name", "image_url", "milestone"} for t in body["vip_tiers"])
    full = sandbox_api.get("/vip_tiers", params={"include": "perks,entry_rewards"}).json()
    assert all(t["perks"] and t["entry_rewards"] for t in full["vip_tiers"])
    perks = sandbox_api.get("/vip_tiers", params={"include": "perks"}).json()
    assert all("perks" in t and "entry_rewards" not in t for t in perks["vip_tiers"])
    assert spec.errors(spec.response_validator("/vip_tiers"), full) == []


def test_points_settings(sandbox_api):
    body = sandbox_api.get("/points_settings").json()
    assert body == {"points_settings": {"points_label": {"one": "Point", "other": "Points"}}}
    assert spec.errors(spec.response_validator("/points_settings"), body) == []


def test_every_list_page_validates_against_the_published_spec(sandbox_api):
    _, pages = walk_customers(sandbox_api, limit=250, include="vip_status")
    validator = spec.response_validator("/customers")
    strict_failures = []
    for page in pages:
        assert spec.errors(validator, page) == []
        strict_failures += spec.errors(validator, page, allow_null_email=False)
        for c in page["customers"]:
            for value in (c["created_at"], c["updated_at"], c["vip_status"]["vip_tier_expires_at"]):
                assert value is None or TIMESTAMP.fullmatch(value)
    # The one deliberate deviation: null emails (typed non-null by the spec) and nothing else.
    assert strict_failures and all(f.endswith("None is not of type 'string'") for f in strict_failures)


def test_the_spec_check_would_catch_a_wrong_shape():
    bad = {
        "customers": [{"id": "1", "state": "guest", "created_at": "2024-01-01"}],
        "metadata": {"next_cursor": 5},
    }
    assert len(spec.errors(spec.response_validator("/customers"), bad)) == 4


def test_pages_parse_into_the_clients_shapes(sandbox_api):
    for c in sandbox_api.get("/customers", params={"limit": 250, "include": "vip_status"}).json()[
        "customers"
    ]:
        expires = c["vip_status"]["vip_tier_expires_at"]
        parsed = CustomerData(
            id=c["id"],
            email=c["email"],
            state=c["state"],
            points_balance=c["points_balance"],
            vip_tier_id=c["vip_status"]["vip_tier_id"],
            vip_tier_expires_at=datetime.fromisoformat(expires) if expires else None,
            created_at=datetime.fromisoformat(c["created_at"]),
            updated_at=datetime.fromisoformat(c["updated_at"]),
        )
        assert parsed.updated_at >= parsed.created_at
        assert parsed.state in ("member", "candidate", "disabled")
        assert isinstance(parsed.points_balance, int) and parsed.points_balance >= 0
