"""--cursor-mode against a running sandbox: keyset (invented cursors work), opaque-400/404/500 (a cursor
the sandbox did not issue gets that status), opaque-wrong (one it did not issue restarts the walk)."""

import base64

import httpx
import pytest

from integrations.smile.sandbox.cursors import decode_keyset
from tests.support import smile_spec as spec
from tests.support.sandbox import SandboxError, SandboxProcess, walk_customers

pytestmark = pytest.mark.e2e
OPAQUE = ["opaque-400", "opaque-404", "opaque-500"]


def invented(cid: int, direction: str = "next") -> str:
    return base64.b64encode(f"id:{cid},direction:{direction}".encode()).decode()


def altered(cursor: str) -> str:
    middle = len(cursor) // 2
    return cursor[:middle] + ("B" if cursor[middle] != "B" else "C") + cursor[middle + 1 :]


def assert_error(resp, status):
    assert resp.status_code == status, resp.text
    assert spec.errors(spec.error_validator(), resp.json()) == []


def ids(customers) -> list[int]:
    return [c["id"] for c in customers]


@pytest.fixture(scope="module")
def sandbox():
    with SandboxProcess(customers=600, seed=4, rate_limit=0) as process:
        yield process


@pytest.fixture(scope="module")
def truth(sandbox) -> list[int]:
    return [c["id"] for c in sandbox.export()["customers"]]


@pytest.fixture
def api(sandbox):
    with sandbox.api_client(sandbox.issue_token()["access_token"]) as client:
        yield client
    sandbox.settings(cursor_mode="keyset")


def test_keyset_mode_reads_an_invented_cursor_as_an_id_bound(api, truth):
    page = api.get("/customers", params={"limit": 50, "cursor": invented(truth[100])}).json()
    assert ids(page["customers"]) == truth[101:151]
    assert decode_keyset(page["metadata"]["next_cursor"]) == (truth[150], "next")


@pytest.mark.parametrize("mode", OPAQUE)
def test_opaque_modes_walk_everyone_and_refuse_cursors_they_did_not_issue(sandbox, api, truth, mode):
    sandbox.settings(cursor_mode=mode)
    customers, pages = walk_customers(api, limit=100)
    assert ids(customers) == truth and len(pages) == 6
    issued = pages[0]["metadata"]["next_cursor"]
    assert decode_keyset(issued) is None and str(truth[99]) not in issued  # nothing readable in it
    status = int(mode[-3:])
    for bad in (invented(truth[99]), invented(truth[99], "prev"), altered(issued), "garbage!", "x" * 39):
        assert_error(api.get("/customers", params={"cursor": bad}), status)
    # the previous cursor of page 2 leads back to page 1, also in opaque modes
    back = api.get("/customers", params={"limit": 100, "cursor": pages[1]["metadata"]["previous_cursor"]})
    assert ids(back.json()["customers"]) == truth[:100]


def test_opaque_cursors_are_stable_for_the_same_position(sandbox, api):
    sandbox.settings(cursor_mode="opaque-400")
    first = [api.get("/customers", params={"limit": 30}).json()["metadata"]["next_cursor"] for _ in range(2)]
    assert first[0] == first[1]
    second = [
        api.get("/customers", params={"limit": 30, "cursor": first[0]}).json()["metadata"] for _ in range(2)
    ]
    assert second[0] == second[1]


def test_opaque_wrong_silently_restarts_an_invented_cursor_at_the_top(sandbox, api, truth):
    sandbox.settings(cursor_mode="opaque-wrong")
    page = api.get("/customers", params={"limit": 50, "cursor": invented(truth[300])})
    assert page.status_code == 200
    assert ids(page.json()["customers"]) == truth[:50]  # ids above the bound the client asked for
    customers, _ = walk_customers(api, limit=250)  # its own cursors still walk correctly
    assert ids(customers) == truth


def test_the_mode_changes_at_runtime_and_keyset_still_takes_issued_opaque_cursors(sandbox, api, truth):
    sandbox.settings(cursor_mode="opaque-404")
    issued = api.get("/customers", params={"limit": 10}).json()["metadata"]["next_cursor"]
    assert api.get("/customers", params={"cursor": invented(truth[9])}).status_code == 404
    sandbox.settings(cursor_mode="keyset")
    assert api.get("/customers", params={"cursor": invented(truth[9])}).status_code == 200
    resumed = api.get("/customers", params={"limit": 10, "cursor": issued}).json()
    assert ids(resumed["customers"]) == truth[10:20]


def test_an_unknown_cursor_mode_is_refused(sandbox):
    with pytest.raises(SandboxError) as exc:
        sandbox.settings(cursor_mode="offset")
    assert exc.value.status == 422


def test_issued_cursors_survive_a_restart_that_reuses_the_db_and_no_other_db_takes_them(tmp_path):
    options = {"customers": 500, "seed": 2, "rate_limit": 0, "cursor_mode": "opaque-404"}
    db = tmp_path / "cursors.sqlite3"
    with (
        SandboxProcess(db=db, **options) as first,
        first.api_client(first.issue_token()["access_token"]) as api,
    ):
        cursor = api.get("/customers", params={"limit": 100}).json()["metadata"]["next_cursor"]
        rest, _ = walk_customers(api, limit=100, cursor=cursor)
    assert len(rest) == 400
    with SandboxProcess(db=db, **options) as again:
        assert again.health()["db_reused"] is True
        with again.api_client(again.issue_token()["access_token"]) as api:
            resumed, _ = walk_customers(api, limit=100, cursor=cursor)
    assert resumed == rest
    with SandboxProcess(db=tmp_path / "other.sqlite3", **options) as other:
        token = other.issue_token()["access_token"]
        resp = httpx.get(
            f"{other.api_base}/customers",
            params={"cursor": cursor},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert_error(resp, 404)
