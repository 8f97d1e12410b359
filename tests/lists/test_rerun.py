"""A cycle requested while another runs is not lost: the running cycle queues one follow-up."""

from django_q.models import OrmQ
from django_q.signing import SignedPackage

from integrations.smile.errors import SmileError
from loyalty_lists.lists import services, tasks
from loyalty_lists.lists.models import SyncLease, SyncRun, SyncState
from loyalty_lists.lists.sync.lease import lease_claim

from .conftest import assert_lists_match
from .fakes import FakeSmile


def queued() -> list[dict]:
    return [SignedPackage.loads(q.payload) for q in OrmQ.objects.order_by("pk")]


class RequestDuringRun(FakeSmile):
    """While the cycle fetches tiers, someone asks for another cycle (e.g. a list was created)."""

    def __init__(self, merchant, fail=False):
        super().__init__()
        self.merchant = merchant
        self.fail = fail
        self.nested = []

    def list_vip_tiers(self):
        if not self.nested:
            self.nested.append(tasks.sync_cycle_task(self.merchant.pk))
        if self.fail:
            raise SmileError("Smile is down")
        return super().list_vip_tiers()


def test_a_request_while_the_lease_is_busy_is_recorded(merchant):
    holder = lease_claim(merchant.pk)  # another worker's cycle

    message = tasks.sync_cycle_task(merchant.pk)

    assert "queues a follow-up" in message
    assert SyncState.objects.get(merchant=merchant).rerun_requested_at is not None
    assert not SyncRun.objects.exists()
    holder.release()


def test_the_running_cycle_queues_one_follow_up_which_runs_and_stops(merchant, make_list):
    smile = RequestDuringRun(merchant)
    smile.add("ann@example.com")
    make_list("all_members")

    run = services.sync_cycle_run(merchant_id=merchant.pk, client=smile)

    assert run.status == "succeeded"
    assert smile.nested == [
        f"merchant {merchant.pk}: another cycle is running; it queues a follow-up when it finishes"
    ]
    [task] = queued()
    assert (task["func"], task["args"]) == (services.TASK_CYCLE, (merchant.pk, "delta", True))
    assert SyncState.objects.get(merchant=merchant).rerun_requested_at is None, "consumed"

    # The follow-up runs (a plain fake now: nobody asks again) and queues nothing more.
    OrmQ.objects.all().delete()
    follow_up = services.sync_cycle_run(merchant_id=merchant.pk, client=FakeSmile(), follow_up=True)
    assert follow_up.status == "succeeded"
    assert OrmQ.objects.count() == 0


def test_a_list_created_mid_sync_is_filled_by_the_follow_up(merchant):
    class CreateListDuringRun(FakeSmile):
        def list_vip_tiers(self):
            if not hasattr(self, "created"):
                self.created = services.list_create(
                    merchant=merchant, name="New", audience="all_members", enqueue=False
                )
                tasks.sync_cycle_task(merchant.pk)  # the queued cycle, picked up by another worker
            return super().list_vip_tiers()

    smile = CreateListDuringRun()
    smile.add("ann@example.com")
    first = services.sync_cycle_run(merchant_id=merchant.pk, client=smile)
    [task] = queued()
    assert task["args"] == (merchant.pk, "delta", True)
    assert first.status == "succeeded"

    services.sync_cycle_run(merchant_id=merchant.pk, client=smile, follow_up=True)
    assert_lists_match([smile.created], smile)


def test_a_failed_cycle_queues_the_follow_up_too(merchant):
    smile = RequestDuringRun(merchant, fail=True)

    run = services.sync_cycle_run(merchant_id=merchant.pk, client=smile)

    assert run.status == "failed"
    [task] = queued()
    assert task["args"] == (merchant.pk, "delta", True)


def test_a_request_from_before_the_cycle_started_queues_nothing(merchant):
    holder = lease_claim(merchant.pk)
    tasks.sync_cycle_task(merchant.pk)  # recorded while the other cycle ran ...
    holder.release()  # ... which finished without checking (it was not ours)

    run = services.sync_cycle_run(merchant_id=merchant.pk, client=FakeSmile())

    assert run.status == "succeeded"
    assert OrmQ.objects.count() == 0, "this cycle started after the request: it covers it"


def test_a_follow_up_that_finds_the_lease_busy_records_nothing(merchant):
    holder = lease_claim(merchant.pk)  # claimed after the request: it covers it

    message = tasks.sync_cycle_task(merchant.pk, "delta", True)

    assert "covers this follow-up" in message
    assert not SyncState.objects.filter(rerun_requested_at__isnull=False).exists()
    holder.release()
    assert SyncLease.objects.get().holder is None


def test_several_requests_during_one_cycle_queue_a_single_follow_up(merchant):
    class ManyRequests(FakeSmile):
        def list_vip_tiers(self):
            for _ in range(3):
                tasks.sync_cycle_task(merchant.pk)
            return super().list_vip_tiers()

    services.sync_cycle_run(merchant_id=merchant.pk, client=ManyRequests())
    assert len(queued()) == 1
