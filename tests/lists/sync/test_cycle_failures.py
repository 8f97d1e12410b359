"""Failures and crashes: a failed cycle changes no list; a crashed one is finished by the next."""

import pytest

from integrations.smile.errors import SmileAuthError
from loyalty_lists.lists import selectors, services
from loyalty_lists.lists.models import ListChange, ListItem, SyncLease, SyncRun, SyncState
from loyalty_lists.lists.sync import fetch

from ..conftest import assert_lists_match, items_of
from ..fakes import FakeSmile, SimulatedCrash


def snapshot_of_lists():
    return sorted(
        ListItem.objects.values_list(
            "list_id", "smile_customer_id", "email", "points_balance", "vip_tier_name", "state", "updated_at"
        )
    )


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(fetch, "BATCH_SIZE", 250)


@pytest.fixture
def synced(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 500)
    smile.add_many(600, tier=gold)
    lists = [make_list("all_members"), make_list("members_and_candidates"), make_list("vip_tier", gold)]
    first = run_cycle()
    assert first.status == "succeeded"
    return lists, first


def test_a_failure_mid_walk_changes_no_list_and_keeps_the_last_good_sync(
    smile, run_cycle, synced, small_batches
):
    lists, first = synced
    for cid in range(1, 400):
        smile.update(cid, points=cid)
    smile.update(500, state="disabled")
    before = snapshot_of_lists()
    watermark = SyncState.objects.get().watermark
    smile.fail_at(2)  # the first page is stored in the snapshot, the second request fails

    run = run_cycle()

    assert run.status == "failed" and "unavailable" in run.error_message
    assert run.customers_fetched == 250, "part of the walk reached the snapshot"
    assert snapshot_of_lists() == before
    assert not ListChange.objects.filter(run=run).exists()
    assert SyncState.objects.get().watermark == watermark
    assert selectors.last_good_sync(merchant=first.merchant) == first
    assert selectors.latest_cycle_run(merchant=first.merchant) == run

    healed = run_cycle()
    assert healed.status == "succeeded" and healed.kind == "delta"
    assert_lists_match(lists, smile)
    assert items_of(lists[0])[300].points_balance == 300


def test_a_failing_tier_request_changes_nothing(smile, run_cycle, synced):
    lists, _ = synced
    smile.delete_tier(next(iter(smile.tiers)))
    smile.add("late@example.com")
    before = snapshot_of_lists()

    class TiersDown(FakeSmile):
        def list_vip_tiers(self):
            raise SmileAuthError("Smile rejected the credentials", status=401)

    down = TiersDown()
    down.customers, down.tiers = smile.customers, smile.tiers
    run = run_cycle(client=down)

    assert run.status == "failed" and "credentials" in run.error_message
    assert snapshot_of_lists() == before
    lists[2].refresh_from_db()
    assert not lists[2].is_stale


def test_a_merchant_without_a_smile_connection_gets_a_failed_run_with_the_reason(merchant):
    run = services.sync_cycle_run(merchant_id=merchant.pk, kind="delta")
    assert run.status == "failed"
    assert run.error_message


def test_a_crashed_full_walk_resumes_from_its_checkpoint(smile, run_cycle, make_list, small_batches):
    smile.add_many(1000)
    smile.age()
    members = make_list("all_members")
    smile.fail_at(3, SimulatedCrash(), state="member")

    with pytest.raises(SimulatedCrash):
        run_cycle("full")

    crashed = SyncRun.objects.get()
    checkpoint = SyncState.objects.get().full_walk
    assert crashed.status == "running" and crashed.customers_fetched == 500
    assert checkpoint["cursors"]["member"] == "id:501"
    assert ListItem.objects.count() == 0, "a crash publishes nothing"
    SyncLease.objects.update(holder="dead-worker")  # the killed worker never released it...
    assert run_cycle() is None
    SyncLease.objects.update(expires_at=crashed.started_at)  # ...until it expired
    smile.requests.clear()

    resumed = run_cycle()  # a delta was asked for: the unfinished full walk comes first

    assert (resumed.kind, resumed.status, resumed.resumed) == ("full", "succeeded", True)
    member_requests = [r for r in smile.requests if r["state"] == "member"]
    assert member_requests[0]["cursor"] == "id:501"
    assert resumed.customers_fetched == 500
    assert_lists_match([members], smile)
    crashed.refresh_from_db()
    assert crashed.status == "failed" and "Worker lost" in crashed.error_message
    assert SyncState.objects.get().full_walk is None


def test_customers_deleted_while_a_walk_was_interrupted_are_caught_by_it_or_the_next_walk(
    smile, run_cycle, make_list, small_batches
):
    smile.add_many(1000)
    members = make_list("all_members")
    run_cycle()
    smile.fail_at(3, SimulatedCrash(), state="member")
    with pytest.raises(SimulatedCrash):
        run_cycle("full")
    smile.delete(3)  # not walked yet (ids are walked newest first)
    smile.delete(1000)  # walked (seen) before the crash: this walk cannot know; the next full walk will
    SyncLease.objects.update(holder=None)

    resumed = run_cycle("full")

    assert resumed.resumed and resumed.customers_gone == 1
    assert set(items_of(members)) == set(smile.customers) | {1000}
    assert run_cycle("full").customers_gone == 1
    assert_lists_match([members], smile)


def test_a_crash_between_walk_and_publish_is_finished_by_the_next_cycle(
    smile, run_cycle, synced, monkeypatch
):
    from loyalty_lists.lists.sync import cycle

    lists, _ = synced
    smile.update(7, state="disabled")
    smile.delete(8)
    real_publish = cycle.publish_lists

    def crash(**kwargs):
        raise SimulatedCrash()

    monkeypatch.setattr(cycle, "publish_lists", crash)
    with pytest.raises(SimulatedCrash):
        run_cycle("full")
    monkeypatch.setattr(cycle, "publish_lists", real_publish)
    SyncLease.objects.update(holder=None)

    after = run_cycle()

    assert after.status == "succeeded"
    assert_lists_match(lists, smile)


def test_a_cycle_that_lost_its_lease_cannot_publish(smile, run_cycle, synced):
    lists, _ = synced
    smile.update(5, state="disabled")
    before = snapshot_of_lists()

    class Overtaken(FakeSmile):
        def iter_customer_pages(self, **kwargs):
            SyncLease.objects.update(holder="another-worker")  # our lease expired; someone took it
            yield from super().iter_customer_pages(**kwargs)

    overtaken = Overtaken()
    overtaken.customers, overtaken.tiers = smile.customers, smile.tiers
    run = run_cycle(client=overtaken)

    assert run.status == "failed" and "lease" in run.error_message
    assert snapshot_of_lists() == before
    assert SyncLease.objects.get().holder == "another-worker", "the loser does not release the winner's lease"


def test_a_smile_failure_is_also_shown_on_the_connection(smile, run_cycle, merchant):
    from integrations.smile.models import SmileConnection

    connection = SmileConnection.objects.get(merchant=merchant)
    smile.add("a@example.com")
    smile.fail_at(1)
    run = run_cycle()
    connection.refresh_from_db()
    assert run.status == "failed"
    assert connection.last_error_message == run.error_message and connection.last_error_at is not None
