"""List services and the thin task functions."""

import pytest
from django.core.exceptions import ValidationError
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from integrations.smile.models import SmileConnection
from loyalty_lists.lists import services, tasks
from loyalty_lists.lists.models import ListChange, ListItem, ListRunResult, LoyaltyList, SyncRun

from .conftest import assert_lists_match, items_of

TASK_CYCLE = "loyalty_lists.lists.tasks.sync_cycle_task"


def queued() -> list[dict]:
    return [SignedPackage.loads(q.payload) for q in OrmQ.objects.order_by("pk")]


def test_creating_a_list_validates_it_and_queues_a_cycle(merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        lst = services.list_create(merchant=merchant, name="  VIPs ", audience="all_members")
    assert lst.name == "VIPs" and lst.published_seq == 0
    [task] = queued()
    assert (task["func"], task["args"]) == (TASK_CYCLE, (merchant.pk,))
    assert SyncRun.objects.get(merchant=merchant).status == "queued"
    with pytest.raises(ValidationError):
        services.list_create(merchant=merchant, name="", audience="all_members")
    with pytest.raises(ValidationError):
        services.list_create(merchant=merchant, name="X", audience="everyone")
    with pytest.raises(ValidationError):
        services.list_create(merchant=merchant, name="X", audience="all_members", vip_tier_id=3)


def test_changing_a_lists_rule_recomputes_it_whole(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 500)
    smile.add("m@example.com")
    smile.add("c@example.com", state="candidate", tier=gold)
    lst = make_list("all_members")
    run_cycle()

    services.list_update(list=lst, audience="members_and_candidates", enqueue=False)
    run_cycle()
    assert_lists_match([lst], smile)
    assert len(items_of(lst)) == 2

    services.list_update(list=lst, audience="vip_tier", vip_tier_id=gold, name="Gold", enqueue=False)
    run_cycle()
    lst.refresh_from_db()
    assert (lst.name, lst.vip_tier_id) == ("Gold", gold)
    assert_lists_match([lst], smile)


def test_renaming_a_list_keeps_its_items(smile, run_cycle, make_list):
    smile.add("m@example.com")
    lst = make_list("all_members")
    run_cycle()
    services.list_update(list=lst, name="Renamed")
    lst.refresh_from_db()
    assert lst.name == "Renamed" and lst.published_seq > 0 and len(items_of(lst)) == 1
    assert OrmQ.objects.count() == 0


def test_deleting_a_list_deletes_its_items_and_history(smile, run_cycle, make_list):
    smile.add_many(3)
    lst = make_list("all_members")
    run_cycle()
    list_id = lst.pk
    services.list_delete(list=lst)
    assert not LoyaltyList.objects.exists()
    assert (
        not ListItem.objects.exists()
        and not ListChange.objects.exclude(kind="list_deleted").exists()
        and not ListRunResult.objects.exists()
    )
    deleted = ListChange.objects.get()  # what the change feed keeps of it
    assert deleted.kind == "list_deleted" and deleted.list_id is None
    assert deleted.detail == {"deleted_list_id": list_id, "name": lst.name}


def test_sync_now_queues_a_cycle(merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.sync_enqueue(merchant=merchant)
        services.sync_enqueue(merchant=merchant, full=True)
    assert [t["args"] for t in queued()] == [(merchant.pk,)]
    assert list(SyncRun.objects.values_list("kind", "status")) == [("full", "queued")]


def test_the_fanout_task_queues_one_cycle_per_connected_merchant(merchant_factory):
    a, _ = merchant_factory("a")
    b, _ = merchant_factory("b")
    c, _ = merchant_factory("c")
    SmileConnection.objects.create(merchant=a, status=SmileConnection.Status.CONNECTED)
    SmileConnection.objects.create(merchant=b, status=SmileConnection.Status.NEEDS_RECONNECT)
    SmileConnection.objects.create(merchant=c, status=SmileConnection.Status.CONNECTED)

    summary = tasks.sync_fanout("full")

    assert [t["args"] for t in queued()] == [(a.pk,), (c.pk,)]
    assert sorted(SyncRun.objects.values_list("merchant_id", "kind", "status")) == [
        (a.pk, "full", "queued"),
        (c.pk, "full", "queued"),
    ]
    assert "2 merchants" in summary
    assert "0 merchants" in tasks.sync_fanout("delta"), "a merchant whose cycle still waits gets no second"


def test_the_cycle_task_runs_the_queued_cycle_and_says_what_happened(merchant):
    services.sync_enqueue(merchant=merchant)
    summary = tasks.sync_cycle_task(merchant.pk)
    assert "failed" in summary  # no Smile connection


def test_the_refresh_task_runs_a_refresh(merchant):
    services.customer_refresh_request(merchant_id=merchant.pk, smile_customer_id=5)
    assert "failed" in tasks.customer_refresh_task(merchant.pk)
