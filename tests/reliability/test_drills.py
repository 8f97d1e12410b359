"""Failure drills (SQLite, live sandbox): Smile misbehaves in the middle of a walk.

Each drill: Smile has changes to publish; a cycle walks every customer (15 pages) and, once a few pages
are already in the snapshot, the sandbox starts failing (5xx, malformed JSON, hangs past a short
timeout, a 429 storm, a revoked token) or a tier is deleted. Afterwards:

* a failed cycle changed nothing: every list row and item equals the snapshot taken before it (nothing
  corrupted, emptied or half-published), and the watermark did not move;
* the error is on the ``SyncRun`` and shown on the run history, the run page and the connection page;
* the next healthy cycle converges: every list equals the ground truth from ``GET /_sandbox/export``.
"""

import time

import pytest
from django.utils.html import escape

from integrations.smile.models import SmileConnection
from loyalty_lists.lists.models import ListItem, LoyaltyList, SyncRun
from tests.support.ground_truth import actual_items, published

pytestmark = pytest.mark.django_db

AT_PAGE = 3


def assert_failed_and_changed_nothing(drill, run, before, watermark, client):
    assert run.status == SyncRun.Status.FAILED, (run.status, run.error_message)
    assert run.error_message, "the error is recorded on the run"
    assert run.pages_fetched >= AT_PAGE, "the failure came mid-walk, after pages reached the snapshot"
    assert published(drill.merchant) == before, "a failed cycle changed a list"
    assert drill.watermark() == watermark, "a failed cycle advanced the watermark"
    shown = escape(run.error_message[:80])
    client.force_login(drill.user)
    for path in ["/runs/", f"/runs/{run.pk}/", "/integrations/smile/"]:
        page = client.get(path).content.decode()
        assert shown in page, f"the error of run {run.pk} is not shown on {path}"


def assert_next_cycle_converges(drill):
    run = drill.cycle()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert drill.mismatches() == {}
    return run


def prepare(drill):
    drill.change_smile()
    drill.walk_everyone_next_time()
    return published(drill.merchant), drill.watermark()


FAULTS = {
    "500 burst": {"kind": "500", "count": 50},
    "503 burst": {"kind": "503", "count": 50},
    "malformed JSON": {"kind": "malformed", "count": 50},
    "hang past the timeout": {"kind": "hang", "count": 50, "hang_seconds": 60},
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_lasting_fault_mid_walk_fails_the_cycle_and_changes_no_list(drill, fault, settings, client):
    settings.SMILE_HTTP_TIMEOUT = 1  # a hung request is abandoned after a second
    before, watermark = prepare(drill)
    spec = dict(FAULTS[fault], path_prefix="/v1/customers")

    run = drill.cycle(at_page=AT_PAGE, action=lambda: drill.sandbox.fault(**spec))

    assert_failed_and_changed_nothing(drill, run, before, watermark, client)
    drill.sandbox.clear_faults()  # also releases the hung requests
    assert_next_cycle_converges(drill)


@pytest.mark.parametrize("kind", ["500", "503", "malformed"])
def test_a_short_burst_mid_walk_is_retried_and_the_cycle_succeeds(drill, kind):
    prepare(drill)
    started = time.time()

    run = drill.cycle(
        at_page=AT_PAGE, action=lambda: drill.sandbox.fault(kind, count=1, path_prefix="/v1/customers")
    )

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert drill.mismatches() == {}
    calls = [(r["path"], r["query"]) for r in drill.sandbox.requests_log(since=started)]
    repeated = {call: calls.count(call) for call in calls if calls.count(call) > 1}
    assert list(repeated.values()) == [2], repeated  # one request failed and was retried once


def test_a_429_storm_fails_the_cycle_without_a_retry_storm_and_changes_no_list(drill, client):
    """A 5-second storm (the 30-second one with two clusters is in tests/prod/test_drills_two_clusters.py)."""
    before, watermark = prepare(drill)
    started = time.time()

    run = drill.cycle(at_page=AT_PAGE, action=lambda: drill.sandbox.fault("429", seconds=5))

    assert_failed_and_changed_nothing(drill, run, before, watermark, client)
    assert "429" in run.error_message or "rate" in run.error_message.lower(), run.error_message
    rejected = [r for r in drill.sandbox.requests_log(since=started) if r["status"] == 429]
    assert 1 <= len(rejected) <= 2, "each call gives up after SMILE_MAX_ATTEMPTS (2) attempts"
    deadline = time.monotonic() + 30
    while drill.sandbox.faults():  # the storm ends on its own
        assert time.monotonic() < deadline, f"the 429 storm did not end: {drill.sandbox.faults()}"
        time.sleep(0.25)
    assert_next_cycle_converges(drill)


def test_a_revoked_token_fails_the_cycle_asks_for_a_reconnect_and_changes_no_list(drill, client):
    before, watermark = prepare(drill)

    run = drill.cycle(at_page=AT_PAGE, action=drill.sandbox.revoke_tokens)

    assert_failed_and_changed_nothing(drill, run, before, watermark, client)
    connection = SmileConnection.objects.get(merchant=drill.merchant)
    assert connection.status == SmileConnection.Status.NEEDS_RECONNECT
    page = client.get("/integrations/smile/").content.decode()
    assert "Syncing is paused until you reconnect." in page

    before = published(drill.merchant)
    blocked = drill.cycle()  # until someone reconnects, cycles fail fast and change nothing
    assert blocked.status == SyncRun.Status.FAILED and published(drill.merchant) == before

    drill.reconnect()
    assert_next_cycle_converges(drill)


def test_a_tier_deleted_mid_walk_leaves_its_list_stale_and_frozen_and_the_rest_converge(drill):
    prepare(drill)
    tier_list = (
        LoyaltyList.objects.filter(merchant=drill.merchant, audience="vip_tier").order_by("pk").first()
    )
    tier_name = drill.truth().tier_names[tier_list.vip_tier_id]
    sizes = {lst.pk: lst.item_count for lst in drill.lists()}

    run = drill.cycle(at_page=AT_PAGE, action=lambda: drill.sandbox.delete_tier(tier_list.vip_tier_id))

    # The tiers were read before the deletion: this cycle publishes what it saw, and empties no list.
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    for lst in drill.lists():
        assert lst.item_count > 0 or sizes[lst.pk] == 0, f"{lst.name} was emptied"
    frozen = actual_items(LoyaltyList.objects.get(pk=tier_list.pk))

    run = drill.cycle()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    tier_list.refresh_from_db()
    assert tier_list.is_stale and tier_name in tier_list.stale_reason, tier_list.stale_reason
    assert actual_items(tier_list) == frozen, "a stale list is frozen, not emptied"
    assert frozen, "the stale list keeps its last items"
    assert drill.mismatches() == {}  # every other list equals the truth
    assert ListItem.objects.filter(list=tier_list).count() == tier_list.item_count
