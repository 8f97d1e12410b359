"""Which queue a cycle's task goes to (``lists/sync/dispatch.py``): with ``SYNC_FULL_QUEUE`` set, every
cycle that walks a whole program goes to the full-walk queue and everything else stays on the default
one; the fan-out sends thousands of tasks in a few statements. (Real clusters on Redis:
``tests/prod/test_fleet_scheduling.py``.)"""

import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from loyalty_lists.lists import services, tasks
from loyalty_lists.lists.models import SyncRun, SyncState
from loyalty_lists.lists.sync import dispatch, queue

from ..fakes import FakeSmile
from .test_slots import NOON, connected_merchants, with_states

pytestmark = pytest.mark.django_db


@pytest.fixture
def split(settings):
    settings.SYNC_FULL_QUEUE = "full"
    OrmQ.objects.all().delete()


def sent() -> list[tuple[str, tuple]]:
    """(queue, args) of every task waiting in the ORM broker, in order."""
    return [(q.key, SignedPackage.loads(q.payload)["args"]) for q in OrmQ.objects.order_by("pk")]


def test_one_queue_for_everything_when_the_full_queue_is_not_set(merchant):
    OrmQ.objects.all().delete()
    services.sync_enqueue(merchant=merchant, full=True)
    queue.cycle_send(merchant.pk)
    assert sent() == [("loyalty_lists", (merchant.pk,))]


def test_a_full_goes_to_the_full_queue_and_a_delta_to_the_default_one(split, merchant_factory):
    full_m, _ = merchant_factory("full")
    delta_m, _ = merchant_factory("delta")
    with_states([full_m.pk, delta_m.pk])
    queue.cycle_request(merchant_id=full_m.pk, kind="full")
    queue.cycle_request(merchant_id=delta_m.pk, kind="delta")

    queue.cycle_send(full_m.pk)
    queue.cycle_send(delta_m.pk)

    assert sent() == [("full", (full_m.pk,)), ("loyalty_lists", (delta_m.pk,))]


def test_a_first_sync_and_an_interrupted_walk_go_to_the_full_queue(split, merchant_factory):
    new, _ = merchant_factory("new")
    walking, _ = merchant_factory("walking")
    with_states([walking.pk])
    SyncState.objects.filter(merchant_id=walking.pk).update(full_walk={"run_id": 1, "cursors": {}})
    for m in (new, walking):
        services.sync_enqueue(merchant=m)  # a delta asked for...
        queue.cycle_send(m.pk)
    assert sent() == [("full", (new.pk,)), ("full", (walking.pk,))]  # ...that will walk everything


def test_a_delta_upgraded_to_a_full_after_its_task_was_sent_is_forwarded(split, merchant):
    with_states([merchant.pk])
    services.sync_enqueue(merchant=merchant)
    queue.cycle_send(merchant.pk)
    services.sync_enqueue(merchant=merchant, full=True)  # the slot came meanwhile

    answer = tasks.sync_cycle_task(merchant.pk)  # the delta's task, on the default queue

    assert "sent to the full-walk queue" in answer
    assert sent() == [("loyalty_lists", (merchant.pk,)), ("full", (merchant.pk,))]
    [run] = SyncRun.objects.all()
    assert (run.kind, run.status) == ("full", "queued"), "not walked on the default queue"


def test_the_full_queues_cluster_walks_it(split, merchant, monkeypatch, make_list):
    monkeypatch.setattr(Conf, "CLUSTER_NAME", "full")
    with_states([merchant.pk])
    services.sync_enqueue(merchant=merchant, full=True)
    smile = FakeSmile()
    smile.add("ann@example.com")

    assert dispatch.cycle_forward(merchant.pk) is False
    run = services.sync_cycle_run(merchant_id=merchant.pk, kind=None, client=smile)
    assert (run.kind, run.status) == ("full", "succeeded")


def test_a_delta_sent_from_a_full_walk_cluster_goes_to_the_default_queue(split, merchant, monkeypatch):
    monkeypatch.setattr(Conf, "CLUSTER_NAME", "full")  # a follow-up sent by a worker of the full queue
    with_states([merchant.pk])
    services.sync_enqueue(merchant=merchant)
    queue.cycle_send(merchant.pk)
    assert sent() == [("loyalty_lists", (merchant.pk,))]


def test_a_delta_task_does_not_forward_a_delta(split, merchant):
    with_states([merchant.pk])
    services.sync_enqueue(merchant=merchant)
    with CaptureQueriesContext(connection) as queries:
        assert dispatch.cycle_forward(merchant.pk) is False
    assert len(queries) == 1, "one indexed query per delta task, only when the queues are split"


def test_the_delta_fanout_sends_each_merchant_to_its_queue(split):
    ready = connected_merchants(3)
    new = connected_merchants(2)
    with_states(ready)

    assert queue.cycles_fanout(kind="delta") == 5

    queues = {args[0]: key for key, args in sent()}
    assert queues == {**dict.fromkeys(ready, "loyalty_lists"), **dict.fromkeys(new, "full")}
    packages = [SignedPackage.loads(q.payload) for q in OrmQ.objects.all()]
    assert {p["save"] for p in packages} == {False}, "10,000 successes a round are not stored (runs are)"


def test_the_fanout_for_a_thousand_merchants_takes_statements_per_batch_not_per_merchant(split):
    merchants = connected_merchants(1000)
    with_states(merchants)

    with CaptureQueriesContext(connection) as queries:
        assert queue.cycles_fanout(kind="delta") == 1000

    # SQLite: SyncRun rows 999 variables // its columns to a statement, broker rows 333 to one;
    # PostgreSQL and Redis: see tests/prod/test_fleet_scheduling.py (10,000 merchants).
    run_rows = 999 // (len(SyncRun._meta.concrete_fields) - 1)
    assert len(queries) <= 3 + math.ceil(1000 / run_rows) + 4, len(queries)
    assert OrmQ.objects.filter(key="loyalty_lists").count() == 1000
    assert SyncRun.objects.filter(status="queued", kind="delta").count() == 1000
    assert queue.cycles_fanout(kind="delta") == 0, "the merchants' cycles still wait: none queued twice"


def test_queue_depths_counts_both_queues(split, merchant):
    with_states([merchant.pk], watermark=NOON)
    services.sync_enqueue(merchant=merchant, full=True)
    queue.cycle_send(merchant.pk)
    assert dispatch.queue_depths() == {"loyalty_lists": 0, "full": 1}


def test_fleet_scale_tasks_do_not_store_their_success_but_single_cycles_do(merchant):
    """django-q2 stores a success by locking and reading every stored one: ~20 ms a task, paid by every
    merchant every round (the fleet benchmark). The fan-out's and the webhook refreshes' tasks skip it."""
    from loyalty_lists.lists.sync.refresh import refresh_request

    OrmQ.objects.all().delete()
    refresh_request(merchant_id=merchant.pk, smile_customer_id=5)
    services.sync_enqueue(merchant=merchant)
    queue.cycle_send(merchant.pk)  # Sync now: its result is kept (the drills read it)
    refresh, cycle = (SignedPackage.loads(q.payload) for q in OrmQ.objects.order_by("pk"))
    assert refresh["func"].endswith("customer_refresh_task") and refresh["save"] is False
    assert cycle["func"].endswith("sync_cycle_task") and "save" not in cycle
