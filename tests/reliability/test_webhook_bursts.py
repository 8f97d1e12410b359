"""Webhook bursts end to end: the sandbox (with webhooks on) posts signed deliveries to the app (the live
server), a real django-q2 cluster drains the refreshes, over an OAuth connection, against Smile's
10 req/s limit. A tier deleted in Smile arrives as one webhook per customer it moved: the tier's list must
go stale with the very members it had (it once drained to 0), the other lists must follow the truth, and
the pages must render. A third of a list leaving through webhooks must hold the list, not drain it.
"""

import time
from pathlib import Path

import pytest
from django.db import connection

from integrations.smile.models import SmileConnection
from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListItem, ListRunResult, LoyaltyList, RefreshRequest, SyncState
from tests.integrations.smile.conftest import (
    connect_with_sandbox_tokens,
    max_in_any_window,
    point_settings_at,
)
from tests.support.ground_truth import GroundTruth
from tests.support.processes import QCluster, cluster_env

CUSTOMERS = 700


@pytest.fixture
def stack(transactional_db, live_server, smile_sandbox_factory, settings, merchant_factory, tmp_path):
    """Sandbox -> webhooks -> the live server; a qcluster drains the refreshes; one merchant on OAuth."""
    database = connection.settings_dict["NAME"]
    assert Path(database).exists(), f"the test database is not a file: {database}"
    sandbox = smile_sandbox_factory(
        customers=CUSTOMERS, seed=31, webhook_url=f"{live_server.url}/integrations/smile/webhooks"
    )  # Smile's rate limit (10 req/s), as in production
    point_settings_at(settings, sandbox)
    settings.SMILE_WEBHOOK_SECRET = sandbox.client_secret
    merchant, user = merchant_factory("bursts")
    connect_with_sandbox_tokens(merchant, sandbox)
    assert SmileConnection.objects.get(merchant=merchant).account_id, "webhooks are routed by account id"
    env = cluster_env(
        database,
        sandbox,
        SMILE_WEBHOOK_SECRET=sandbox.client_secret,
    )
    cluster = QCluster(env, tmp_path / "qcluster.log")
    try:
        cluster.wait_running()
        yield sandbox, merchant, user, cluster
    finally:
        cluster.stop()


def drained(sandbox, merchant, cluster, timeout=180) -> None:
    """Every delivery sent, answered, and every refresh it asked for published."""
    deadline = time.monotonic() + timeout
    sandbox.webhook_deliveries(wait=min(60, timeout))
    while (
        RefreshRequest.objects.filter(merchant=merchant).exists()
        or SyncState.objects.filter(merchant=merchant, refresh_queued_at__isnull=False).exists()
    ):
        assert time.monotonic() < deadline, f"the refreshes did not drain:\n{cluster.output()}"
        time.sleep(0.2)


def items(lst) -> set[int]:
    return set(ListItem.objects.filter(list=lst).values_list("smile_customer_id", flat=True))


def test_a_tier_deleted_in_smile_arrives_as_a_webhook_burst_and_its_list_goes_stale_with_its_members(
    stack, client
):
    sandbox, merchant, user, cluster = stack
    export = sandbox.export()
    biggest = max(
        export["vip_tiers"], key=lambda t: sum(c["vip_tier_id"] == t["id"] for c in export["customers"])
    )
    members = services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    tier_list = LoyaltyList.objects.create(
        merchant=merchant, name=f"{biggest['name']} VIPs", audience="vip_tier", vip_tier_id=biggest["id"]
    )
    assert services.sync_cycle_run(merchant_id=merchant.pk, kind="full").status == "succeeded"
    frozen = items(tier_list)
    assert len(frozen) > 100
    started = time.time()

    moved = sandbox.delete_tier(biggest["id"])["customers_moved"]  # one webhook per moved customer
    drained(sandbox, merchant, cluster)

    tier_list.refresh_from_db()
    assert tier_list.is_stale and biggest["name"] in tier_list.stale_reason
    assert items(tier_list) == frozen, "the tier's list keeps the very members it had"
    assert GroundTruth.of(sandbox.export()).mismatches(merchant) == {}, "the other lists follow Smile"
    deliveries = [d for d in sandbox.webhook_deliveries(wait=0) if d["ts"] >= started]
    assert len(deliveries) >= moved and {d["status"] for d in deliveries} == {200}
    calls = [r for r in sandbox.requests_log(since=started) if r["path"].startswith("/v1/")]
    assert len(calls) <= moved, f"{len(calls)} Smile calls for {moved} webhooks"
    assert max_in_any_window([r["ts"] for r in calls]) <= 10, "Smile's 10 req/s were respected"
    print(f"{moved} webhooks -> {len(calls)} Smile calls; {cluster.output().count('refresh merchant')} tasks")

    client.force_login(user)
    for path in (f"/lists/{tier_list.pk}/", f"/lists/{members.pk}/", "/lists/", "/runs/"):
        assert client.get(path).status_code == 200, path

    # The tier comes back (Smile gives it a new id) with one member: the next cycle recovers the list,
    # and since that would take all but one of its members out at once, the guardrail holds it for an
    # admin (who approves it here).
    recreated = sandbox.create_tier(biggest["name"], biggest["milestone"])
    back = next(iter(frozen))
    sandbox.patch_customer(back, vip_tier_id=recreated["id"], state="member")
    drained(sandbox, merchant, cluster)
    assert services.sync_cycle_run(merchant_id=merchant.pk).status == "held"
    tier_list.refresh_from_db()
    assert not tier_list.is_stale and tier_list.vip_tier_id == recreated["id"]
    assert items(tier_list) == frozen
    services.held_run_approve(result=ListRunResult.objects.get(list=tier_list, decision="pending"), user=user)
    assert items(tier_list) == {back}
    assert GroundTruth.of(sandbox.export()).mismatches(merchant) == {}


def test_a_third_of_a_list_leaving_through_webhooks_holds_the_list_instead_of_draining_it(stack, client):
    sandbox, merchant, user, cluster = stack
    members = services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    assert services.sync_cycle_run(merchant_id=merchant.pk, kind="full").status == "succeeded"
    members.refresh_from_db()
    size = members.item_count
    leaving = sorted(items(members))[: int(size * 0.3)]

    for cid in leaving:
        sandbox.patch_customer(cid, state="candidate")  # each sends its webhook
    drained(sandbox, merchant, cluster)

    members.refresh_from_db()
    assert members.item_count >= size * 0.8 - 1, f"drained from {size} to {members.item_count}"
    hold = ListRunResult.objects.get(list=members, outcome="held", decision="pending")
    assert members.item_count - hold.removed == size - len(leaving), "the hold holds everyone who left"
    client.force_login(user)
    assert "held" in client.get(f"/lists/{members.pk}/").content.decode().lower()

    services.held_run_approve(result=hold, user=user)
    assert GroundTruth.of(sandbox.export()).mismatches(merchant) == {}
