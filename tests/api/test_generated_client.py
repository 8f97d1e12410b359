"""A client generated from /api/v1/openapi.json (openapi-python-client) works against the live server with no
hand-written HTTP: lookups, lists, items and runs, answered as typed objects."""

import importlib
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loyalty_lists.api.keys import api_key_create

from .conftest import T0, make_customer, make_item, make_list, make_run, make_tier

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PACKAGE = "sll_generated_client"


def _generator() -> str:
    candidate = Path(sys.executable).with_name("openapi-python-client")
    found = str(candidate) if candidate.exists() else shutil.which("openapi-python-client")
    if found is None:
        pytest.fail(
            "openapi-python-client is not installed: it belongs in the 'test' extra (pyproject.toml)."
        )
    return found


@pytest.fixture
def generated(live_server, tmp_path):
    """The client package, generated into a temporary folder and imported."""
    config = tmp_path / "config.yml"
    config.write_text("post_hooks: []\n")  # no formatter run on the generated code
    subprocess.run(
        [
            _generator(),
            "generate",
            "--url",
            f"{live_server.url}/api/v1/openapi.json",
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
            "--config",
            str(config),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_a_generated_client_calls_lookups_lists_items_and_runs_and_gets_typed_answers(
    generated, live_server, settings, shop, other_shop
):
    settings.API_RATE_LIMIT = "1000000/m"
    make_tier(shop, 12, "Gold")
    members = make_list(shop, "Members")
    gold = make_list(shop, "Gold", "vip_tier", tier=12)
    make_item(members, "ann@example.com", smile_id=5, points=40)
    make_item(members, "bob@example.com", smile_id=6)
    make_customer(shop, "cat@example.com", state="candidate")
    run = make_run(shop, customers_fetched=3, items_added=2)
    make_list(other_shop, "Not yours")
    key = api_key_create(merchant=shop, name="generated client")[1]

    models = importlib.import_module(f"{PACKAGE}.models")
    client = generated.AuthenticatedClient(base_url=live_server.url, token=key)
    lookup = importlib.import_module(f"{PACKAGE}.api.lookups.lookup")
    lists_index = importlib.import_module(f"{PACKAGE}.api.lists.lists_index")
    list_items = importlib.import_module(f"{PACKAGE}.api.items.list_items")
    list_member = importlib.import_module(f"{PACKAGE}.api.items.list_member")
    sync_runs = importlib.import_module(f"{PACKAGE}.api.sync_runs.sync_runs")

    answer = lookup.sync(client=client, body=models.LookupIn(email=" Ann@Example.com"))
    assert isinstance(answer, models.LookupOut)
    assert answer.email == "ann@example.com"
    assert answer.as_of == T0 and answer.as_of.tzinfo is not None
    by_name = {r.name: r for r in answer.results}
    assert set(by_name) == {"Members", "Gold"}
    assert by_name["Members"].member is True
    assert by_name["Members"].item.points_balance == 40
    assert isinstance(by_name["Members"].item.loyalty_member_since, datetime)
    assert by_name["Members"].item.state == models.ItemOutState.MEMBER
    assert by_name["Gold"].member is False
    assert by_name["Gold"].reason_code == models.LookupResultReasonCodeType0.OTHER_TIER

    missing = lookup.sync(client=client, body=models.LookupIn(email="ann@example.com", list_ids=[999_999]))
    assert isinstance(missing, models.ErrorOut) and missing.error.code == "not_found"
    invalid = lookup.sync_detailed(client=client, body=models.LookupIn(email="not-an-email"))
    assert invalid.status_code == 422 and invalid.parsed.error.details[0].field == "email"

    lists = lists_index.sync(client=client)
    assert [(lst.name, lst.audience) for lst in lists] == [
        ("Gold", models.ListOutAudience.VIP_TIER),
        ("Members", models.ListOutAudience.ALL_MEMBERS),
    ]
    assert lists[0].vip_tier.name == "Gold" and lists[1].member_count == 2
    assert lists[1].last_synced_at == T0

    page = list_items.sync(list_id=members.pk, client=client, limit=1)
    assert isinstance(page, models.ItemPage)
    assert [i.email for i in page.items] == ["ann@example.com"]
    rest = list_items.sync(list_id=members.pk, client=client, limit=1, cursor=page.next_cursor)
    assert [i.email for i in rest.items] == ["bob@example.com"] and rest.next_cursor is None

    member = list_member.sync(list_id=gold.pk, email="cat@example.com", client=client)
    assert isinstance(member, models.MembershipOut)
    assert member.member is False and member.reason_code == models.MembershipOutReasonCodeType0.OTHER_TIER

    runs = sync_runs.sync(client=client)
    assert isinstance(runs, models.SyncRunPage)
    (only,) = runs.items
    assert (only.id, only.kind, only.status) == (
        run.pk,
        models.SyncRunOutKind.DELTA,
        models.SyncRunOutStatus.SUCCEEDED,
    )
    assert only.started_at == T0 and only.finished_at.astimezone(UTC) == T0.replace(minute=1)
    assert only.customers_fetched == 3 and only.items_added == 2
