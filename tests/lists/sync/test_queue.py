"""A cycle asked for is a queued run in the database: never dropped, never duplicated, and sent by the
cycle that held the lease when it ends (or by the sweep, see ``test_queue_sweep.py``)."""

from django_q.models import OrmQ
from django_q.signing import SignedPackage

from integrations.smile.errors import SmileError
from loyalty_lists.lists import services, tasks
from loyalty_lists.lists.models import SyncLease, SyncRun
from loyalty_lists.lists.sync.lease import lease_claim

from ..conftest import assert_lists_match
from ..fakes import FakeSmile

TASK = "loyalty_lists.lists.tasks.sync_cycle_task"


def queued_tasks() -> list[dict]:
    return [SignedPackage.loads(q.payload) for q in OrmQ.objects.order_by("pk")]


def queued_runs(merchant):
    return list(SyncRun.objects.filter(merchant=merchant, status="queued"))


class RequestDuringRun(FakeSmile):
    """While the cycle fetches tiers, someone presses *Sync now* (and a worker picks up its task)."""

    def __init__(self, merchant, fail=False):
        super().__init__()
        self.merchant = merchant
        self.fail = fail
        self.nested = []

    def list_vip_tiers(self):
        if not self.nested:
            services.sync_enqueue(merchant=self.merchant)
            self.nested.append(tasks.sync_cycle_task(self.merchant.pk))
        if self.fail:
            raise SmileError("Smile is down")
        return super().list_vip_tiers()


def test_sync_now_while_the_lease_is_busy_waits_as_a_queued_run(merchant):
    holder = lease_claim(merchant.pk)  # another worker's cycle

    run, created = services.sync_enqueue(merchant=merchant)
    message = tasks.sync_cycle_task(merchant.pk)

    assert created and run.status == "queued" and run.queued_at is not None
    assert "holds the lease" in message
    assert queued_runs(merchant) == [run], "the request waits; it is not dropped"
    holder.release()


def test_the_running_cycle_sends_the_queued_run_which_then_runs(merchant, make_list):
    smile = RequestDuringRun(merchant)
    smile.add("ann@example.com")
    make_list("all_members")
    OrmQ.objects.all().delete()

    run = services.sync_cycle_run(merchant_id=merchant.pk, client=smile)

    assert run.status == "succeeded"
    assert "holds the lease" in smile.nested[0]
    [waiting] = queued_runs(merchant)
    [task] = queued_tasks()
    assert (task["func"], task["args"]) == (TASK, (merchant.pk,))

    # The sent task runs exactly that queued run.
    OrmQ.objects.all().delete()
    services.sync_cycle_run(merchant_id=merchant.pk, client=FakeSmile())  # (a plain fake: nobody asks)
    waiting.refresh_from_db()
    assert waiting.status == "succeeded"
    assert queued_runs(merchant) == [] and OrmQ.objects.count() == 0


def test_a_list_created_mid_sync_is_filled_by_the_queued_cycle(merchant):
    class CreateListDuringRun(FakeSmile):
        def list_vip_tiers(self):
            if not hasattr(self, "created"):
                self.created = services.list_create(merchant=merchant, name="New", audience="all_members")
                tasks.sync_cycle_task(merchant.pk)  # its task, picked up by another worker: lease busy
            return super().list_vip_tiers()

    smile = CreateListDuringRun()
    smile.add("ann@example.com")
    first = services.sync_cycle_run(merchant_id=merchant.pk, client=smile)
    assert first.status == "succeeded"
    assert len(queued_runs(merchant)) == 1

    services.sync_cycle_run(merchant_id=merchant.pk, client=smile)
    assert_lists_match([smile.created], smile)


def test_a_failed_cycle_sends_the_queued_run_too(merchant):
    smile = RequestDuringRun(merchant, fail=True)
    OrmQ.objects.all().delete()

    run = services.sync_cycle_run(merchant_id=merchant.pk, client=smile)

    assert run.status == "failed"
    assert [t["args"] for t in queued_tasks()] == [(merchant.pk,)]
    assert len(queued_runs(merchant)) == 1


def test_a_task_with_no_queued_run_does_nothing(merchant):
    message = tasks.sync_cycle_task(merchant.pk)

    assert "no queued cycle" in message
    assert not SyncRun.objects.exists()
    assert SyncLease.objects.get().holder is None


def test_a_flood_of_sync_now_queues_one_run_and_one_task(merchant, django_capture_on_commit_callbacks):
    OrmQ.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        answers = [services.sync_enqueue(merchant=merchant) for _ in range(300)]

    runs = {run.pk for run, _ in answers}
    assert len(runs) == 1 and [created for _, created in answers].count(True) == 1
    assert len(queued_tasks()) == 1


def test_a_full_request_turns_the_queued_delta_into_a_full(merchant):
    delta, _ = services.sync_enqueue(merchant=merchant)
    full, created = services.sync_enqueue(merchant=merchant, full=True)

    assert not created and full.pk == delta.pk
    delta.refresh_from_db()
    assert delta.kind == "full"
    assert services.sync_enqueue(merchant=merchant)[0].kind == "full", "a later delta does not downgrade it"


def test_the_queued_run_is_the_one_that_runs(merchant):
    queued, _ = services.sync_enqueue(merchant=merchant, full=True)

    run = services.sync_cycle_run(merchant_id=merchant.pk, client=FakeSmile())

    assert run.pk == queued.pk and (run.kind, run.status) == ("full", "succeeded")
    assert run.queued_at is not None and run.started_at >= run.queued_at


def test_queued_runs_of_two_merchants_are_independent(merchant_factory):
    a, _ = merchant_factory("a")
    b, _ = merchant_factory("b")
    run_a, created_a = services.sync_enqueue(merchant=a)
    run_b, created_b = services.sync_enqueue(merchant=b)
    assert created_a and created_b and run_a.pk != run_b.pk


def test_sync_now_before_the_first_sync_is_queued_as_the_full_walk_it_will_be(merchant, smile, run_cycle):
    smile.add_many(3)
    first, created = services.sync_enqueue(merchant=merchant)
    assert created and first.kind == "full", "pages say a full walk is coming, not a delta"
    SyncRun.objects.filter(pk=first.pk).delete()

    run_cycle()
    later, _ = services.sync_enqueue(merchant=merchant)
    assert later.kind == "delta", "once synced, Sync now asks for a delta"
