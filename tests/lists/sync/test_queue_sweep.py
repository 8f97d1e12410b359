"""The sweep (every minute) repairs what dead workers leave behind, without anyone pressing a button."""

from datetime import timedelta

from django.utils import timezone
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from loyalty_lists.lists import services, tasks
from loyalty_lists.lists.models import RefreshRequest, SyncLease, SyncRun, SyncState

from ..conftest import assert_lists_match
from ..fakes import FakeSmile


def sent() -> list[tuple]:
    return [
        (t["func"].rsplit(".", 1)[1], t["args"])
        for t in map(SignedPackage.loads, OrmQ.objects.values_list("payload", flat=True))
    ]


def killed_mid_run(merchant, *, expired=True):
    """A worker died holding the lease in the middle of a full run."""
    now = timezone.now()
    run = SyncRun.objects.create(merchant=merchant, kind="full", status="running", started_at=now)
    SyncLease.objects.create(
        merchant=merchant,
        holder="dead",
        expires_at=now + (timedelta(seconds=-1) if expired else timedelta(minutes=5)),
    )
    return run


def test_an_expired_lease_fails_its_run_and_queues_the_next_cycle(merchant):
    lost = killed_mid_run(merchant)

    done = services.sync_sweep()

    lost.refresh_from_db()
    assert lost.status == "failed" and lost.error_message.startswith("Worker lost")
    assert SyncLease.objects.get().holder is None
    [queued] = SyncRun.objects.filter(status="queued")
    assert sent() == [("sync_cycle_task", (merchant.pk,))]
    assert done["leases_freed"] == 1


def test_the_queued_cycle_then_resumes_and_converges(merchant, make_list):
    smile = FakeSmile()
    smile.add_many(20)
    members = make_list("all_members")
    killed_mid_run(merchant)
    services.sync_sweep()

    run = services.sync_cycle_run(merchant_id=merchant.pk, client=smile)  # the sent task's cycle

    assert run.status == "succeeded" and run.kind == "full"
    assert_lists_match([members], smile)


def test_a_live_lease_is_left_alone(merchant):
    running = killed_mid_run(merchant, expired=False)

    services.sync_sweep()

    running.refresh_from_db()
    assert running.status == "running" and SyncLease.objects.get().holder == "dead"
    assert sent() == []


def test_a_queued_cycle_whose_task_was_lost_gets_it_again(merchant, settings):
    settings.SYNC_LEASE_TTL_SECONDS = 60
    settings.SYNC_QUEUED_RESEND_SECONDS = 60
    run, _ = services.sync_enqueue(merchant=merchant)  # (its task was never sent: no commit here)
    services.sync_sweep()
    assert sent() == [], "recently queued: its task is probably on its way"

    SyncRun.objects.filter(pk=run.pk).update(task_sent_at=timezone.now() - timedelta(minutes=2))
    services.sync_sweep()
    assert sent() == [("sync_cycle_task", (merchant.pk,))]
    run.refresh_from_db()
    assert run.task_sent_at > timezone.now() - timedelta(seconds=5), "not resent every minute"


def test_refreshes_nobody_drains_get_their_task_again(merchant):
    SyncState.objects.create(merchant=merchant, refresh_queued_at=timezone.now() - timedelta(hours=1))
    RefreshRequest.objects.create(
        merchant=merchant, smile_customer_id=5, received_at=timezone.now() - timedelta(minutes=3)
    )

    services.sync_sweep()

    assert sent() == [("customer_refresh_task", (merchant.pk,))]


def test_the_sweep_costs_a_few_queries_whatever_the_number_of_merchants(
    merchant_factory, django_assert_max_num_queries
):
    for n in range(30):
        merchant, _ = merchant_factory(f"m{n}")
        SyncRun.objects.create(merchant=merchant, kind="delta", status="succeeded", started_at=timezone.now())
        SyncLease.objects.create(merchant=merchant)
    with django_assert_max_num_queries(4):
        tasks.sync_sweep()
