"""At most one cycle per merchant, whatever the number of workers."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from loyalty_lists.lists import services
from loyalty_lists.lists.models import SyncLease, SyncRun
from loyalty_lists.lists.sync.lease import LeaseLost, lease_claim

from ..fakes import FakeSmile


def test_a_lease_is_exclusive_until_released(merchant):
    first = lease_claim(merchant.pk)
    assert first is not None
    assert lease_claim(merchant.pk) is None
    first.release()
    assert lease_claim(merchant.pk) is not None


def test_leases_of_two_merchants_are_independent(merchant_factory):
    a, _ = merchant_factory("a")
    b, _ = merchant_factory("b")
    assert lease_claim(a.pk) is not None and lease_claim(b.pk) is not None


def test_an_expired_lease_is_taken_over_and_its_old_holder_learns_it(merchant):
    old = lease_claim(merchant.pk, ttl=timedelta(seconds=30))
    SyncLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))  # the holder stalled

    new = lease_claim(merchant.pk)

    assert new is not None
    with pytest.raises(LeaseLost):
        old.heartbeat(force=True)
    old.release()
    assert SyncLease.objects.get().holder == new.holder


def test_a_heartbeat_extends_the_lease(merchant):
    lease = lease_claim(merchant.pk, ttl=timedelta(seconds=60))
    SyncLease.objects.update(expires_at=timezone.now() + timedelta(seconds=5))
    lease.heartbeat(force=True)
    assert SyncLease.objects.get().expires_at > timezone.now() + timedelta(seconds=50)


class Gate(FakeSmile):
    """Blocks the cycle that holds the lease until the test lets it go."""

    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def iter_customer_pages(self, **kwargs):  # the cycle's first call to Smile
        self.entered.set()
        assert self.release.wait(10)
        yield from super().iter_customer_pages(**kwargs)


def cycle_when_the_database_lets_us(merchant, client):
    """The test database is in-memory SQLite with a shared cache, where two writers at the same instant
    get "table is locked" at once instead of waiting (as file SQLite with a busy timeout and PostgreSQL
    do): try again then. The conditional UPDATE decides who runs either way."""
    for _ in range(200):
        try:
            return services.sync_cycle_run(merchant_id=merchant.pk, kind="delta", client=client)
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.01)
    raise AssertionError("the database stayed locked")


@pytest.mark.django_db(transaction=True)
@pytest.mark.django_db(transaction=True)  # the threads' connections must not wait on the test's transaction
def test_two_cycles_started_at_once_exactly_one_runs(merchant):
    smile = Gate()
    smile.add_many(3)
    services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    start = threading.Barrier(2)
    results = []

    def worker():
        start.wait()
        try:
            results.append(cycle_when_the_database_lets_us(merchant, smile))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    assert smile.entered.wait(10), "one of them runs"
    for _ in range(400):  # the other one gives up at once, while the first is still running
        if None in results:
            break
        time.sleep(0.05)
    assert results == [None]
    smile.release.set()
    for thread in threads:
        thread.join(10)

    assert sorted(results, key=lambda r: r is not None) == [None, results[1]]
    assert results[1].status == "succeeded"
    [ran] = SyncRun.objects.filter(status="succeeded")
    # The other request is not dropped: it waits as a queued run, or (when it was queued before the
    # first cycle took its run) the cycle that ran is that request.
    waiting = SyncRun.objects.filter(status="queued").count()
    assert waiting == 1 or (waiting == 0 and ran.queued_at is not None), (waiting, ran.queued_at)
    assert SyncLease.objects.get().holder is None, "released when done"
