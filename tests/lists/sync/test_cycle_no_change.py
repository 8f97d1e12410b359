"""A delta that learns nothing skips the publish: a few statements, nothing recorded per list — and any
change at all (a customer, a tier, a list's rule, a list waiting for its first fill) still publishes."""

from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListRunResult, LoyaltyList, SyncLease, SyncRun, SyncState
from loyalty_lists.lists.sync import queue
from loyalty_lists.lists.sync.cycle import cycle_run

from ..conftest import assert_lists_match, items_of

# the lease, the state (with its merchant), the open runs, taking the queued run, the connection's
# capabilities (a real client reads them with the connection it is made from), the lists with what each
# has pending, the stored tiers, moving the watermark, the lists' "last synced", the run, freeing the
# lease, a follow-up queued meanwhile
NO_CHANGE_QUERIES = 12


@pytest.fixture
def synced(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 100)
    smile.add_many(4)
    smile.add("gold@example.com", tier=gold)
    smile.age()
    lists = [make_list("all_members"), make_list("members_and_candidates"), make_list("vip_tier", gold)]
    first = run_cycle()
    assert first.status == "succeeded", first.error_message
    return lists, gold


def _state(run):
    return SyncState.objects.get(merchant_id=run.merchant_id)


def test_a_delta_that_finds_nothing_changed_costs_a_few_statements_and_records_no_list_results(
    synced, smile, run_cycle, merchant
):
    lists, _gold = synced
    before = {lst.pk: LoyaltyList.objects.get(pk=lst.pk).last_published_at for lst in lists}
    queue.cycle_request(merchant_id=merchant.pk)  # as the schedule's fan-out queues it

    with CaptureQueriesContext(connection) as captured:
        run = cycle_run(merchant_id=merchant.pk, kind=None, client=smile, queued_only=True)

    sql = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("BEGIN", "COMMIT"))]
    assert len(sql) <= NO_CHANGE_QUERIES, "\n".join(sql)
    assert (run.kind, run.status, run.lists_published) == ("delta", "succeeded", 3)
    assert run.finished_at is not None and run.pages_fetched == 1
    assert not ListRunResult.objects.filter(run=run).exists()
    assert _state(run).watermark == run.started_at
    for lst in lists:
        lst.refresh_from_db()
        assert lst.last_published_at > before[lst.pk], "the list says it is current as of this cycle"
    assert_lists_match(lists, smile)


def test_a_changed_customer_is_published_as_before(synced, smile, run_cycle):
    lists, gold = synced
    cid = smile.add("late@example.com", tier=gold)

    run = run_cycle()

    assert run.items_added == 3 and ListRunResult.objects.filter(run=run).count() == 3
    assert all(cid in items_of(lst) for lst in lists)


def test_a_customer_written_by_a_webhook_since_the_lists_were_published_is_published_by_the_next_delta(
    synced, smile, run_cycle, merchant
):
    """Rows a refresh wrote carry a change number above the lists' ``published_seq``: not "no change"."""
    lists, _gold = synced
    cid = smile.add("hook@example.com")
    services.customer_refresh(merchant_id=merchant.pk, smile_customer_id=cid, client=smile)
    assert cid in items_of(lists[0])
    smile.age()  # so the delta's window does not even see it

    run = run_cycle()

    assert ListRunResult.objects.filter(run=run).count() == 3, "published: the lists re-examined it"
    assert_lists_match(lists, smile)


@pytest.mark.parametrize("change", ["renamed", "milestone", "deleted", "created"])
def test_a_tier_change_alone_is_not_no_change(synced, smile, run_cycle, change):
    lists, gold = synced
    if change == "renamed":
        smile.rename_tier(gold, "Golden")
    elif change == "milestone":
        smile.tiers[gold] = replace(smile.tiers[gold], milestone=150)
    elif change == "deleted":
        smile.delete_tier(gold)
    else:
        smile.add_tier("Platinum", 1000)

    run = run_cycle()

    assert ListRunResult.objects.filter(run=run).count() == 3, "went through the publish"
    tier_list = LoyaltyList.objects.get(pk=lists[2].pk)
    assert tier_list.is_stale == (change == "deleted")
    if change == "renamed":
        assert {i.vip_tier_name for i in items_of(tier_list).values()} == {"Golden"}


@pytest.mark.parametrize("edit", ["rule_changed", "new_list"])
def test_a_list_waiting_for_a_publish_is_not_no_change(synced, smile, run_cycle, make_list, edit):
    lists, _gold = synced
    if edit == "rule_changed":
        services.list_update(list=lists[1], audience="all_members", enqueue=False)
    else:
        lists.append(make_list("members_and_candidates", name="Fresh"))

    run = run_cycle()

    assert ListRunResult.objects.filter(run=run).count() == len(lists)
    assert_lists_match([LoyaltyList.objects.get(pk=lst.pk) for lst in lists], smile)


def test_a_cycle_that_lost_its_lease_records_nothing(synced, smile, run_cycle, merchant, monkeypatch):
    watermark = SyncState.objects.get(merchant=merchant).watermark
    from loyalty_lists.lists.sync import tiers as tiers_module

    real = tiers_module.tiers_fetch

    def overtaken(client, **kwargs):  # another worker takes the lease while this one is fetching tiers
        SyncLease.objects.filter(merchant=merchant).update(holder="someone-else")
        return real(client, **kwargs)

    monkeypatch.setattr("loyalty_lists.lists.sync.cycle.tiers_fetch", overtaken)
    run = run_cycle()

    assert run.status == "failed" and "taken over" in run.error_message
    assert SyncState.objects.get(merchant=merchant).watermark == watermark


def test_the_sweep_fails_only_the_dead_workers_runs_not_those_of_the_cycle_that_took_over(merchant):
    freed_at = timezone.now()
    dead = SyncRun.objects.create(
        merchant=merchant, kind="delta", status="running", started_at=freed_at - timedelta(minutes=10)
    )
    new = SyncRun.objects.create(merchant=merchant, kind="delta", status="running", started_at=timezone.now())

    assert queue.runs_interrupted_fail(merchant.pk, before=freed_at) == 1

    assert SyncRun.objects.get(pk=dead.pk).status == "failed"
    assert SyncRun.objects.get(pk=new.pk).status == "running"


def test_a_run_left_running_by_a_dead_worker_is_failed_by_the_next_cycle(synced, run_cycle, merchant):
    dead = SyncRun.objects.create(
        merchant=merchant, kind="delta", status="running", started_at=timezone.now() - timedelta(hours=1)
    )

    run = run_cycle()

    assert run.status == "succeeded"
    dead.refresh_from_db()
    assert dead.status == "failed" and dead.error_message.startswith("Worker lost")
