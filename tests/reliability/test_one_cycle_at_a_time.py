"""Two cycles for one merchant triggered at once (SQLite, a real qcluster with two workers): exactly one
runs; the other only records a request, served by one follow-up cycle after the first (never at the same
time), and the lists equal the ground truth afterwards."""

import time
from pathlib import Path

import pytest
from django.db import connection
from django_q.models import OrmQ, Task

from loyalty_lists.lists import services
from loyalty_lists.lists.models import LoyaltyList, SyncRun
from loyalty_lists.lists.sync import queue
from loyalty_lists.merchants.models import Merchant
from tests.integrations.smile.conftest import connect_with_sandbox_tokens
from tests.support.ground_truth import GroundTruth
from tests.support.processes import QCluster, cluster_env


@pytest.fixture
def cluster(transactional_db, smile_sandbox_factory, tmp_path):
    """A sandbox and a two-worker qcluster that talks to it (stopped before the tables are flushed)."""
    database = connection.settings_dict["NAME"]
    assert Path(database).exists(), f"the test database is not a file: {database}"
    sandbox = smile_sandbox_factory(customers=150, seed=8, rate_limit=0)
    env = cluster_env(
        database,
        sandbox,
        SMILE_RATE_LIMIT_PER_SECOND="0",
        SMILE_MAX_ATTEMPTS="2",
    )
    process = QCluster(env, tmp_path / "qcluster.log")
    try:
        process.wait_running()
        yield sandbox, process
    finally:
        process.stop()


def test_two_cycles_triggered_at_once_run_exactly_once(cluster, settings):
    sandbox, process = cluster
    settings.SMILE_API_BASE = sandbox.api_base
    merchant = Merchant.objects.create(slug="twice", name="Twice")
    connect_with_sandbox_tokens(merchant, sandbox)
    services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    OrmQ.objects.all().delete()
    sandbox.settings(latency_ms=1500)  # each cycle takes seconds: the tasks overlap

    # Two tasks for the queued cycle at once (*Sync now*'s, and a resend racing it): one runs it.
    first, _ = services.sync_enqueue(merchant=merchant)
    queue.cycle_send(merchant.pk)
    wait_until(lambda: SyncRun.objects.get(pk=first.pk).status == "running", process)
    # *Sync now* while it runs: queued, and a task a worker picks up at once (the lease is busy) ...
    second, created = services.sync_enqueue(merchant=merchant)
    assert created and second.status == "queued"
    # ... which the running cycle sends again when it ends: four tasks in all, two runs, never together.
    deadline = time.monotonic() + 180
    while Task.objects.count() < 4 or OrmQ.objects.exists():
        assert time.monotonic() < deadline, f"the tasks did not settle in 180s:\n{process.output()}"
        time.sleep(0.25)
    results = list(Task.objects.values_list("result", flat=True))
    assert sum(f"run {first.pk} succeeded" in r for r in results) == 1, results
    assert sum(f"run {second.pk} succeeded" in r for r in results) == 1, results
    runs = list(SyncRun.objects.filter(merchant=merchant, kind__in=["delta", "full"]).order_by("started_at"))
    assert [r.pk for r in runs] == [first.pk, second.pk], ([(r.pk, r.status) for r in runs], results)
    assert all(r.status == "succeeded" for r in runs), [r.error_message for r in runs]
    assert runs[0].finished_at <= runs[1].started_at, "two cycles of one merchant ran at the same time"
    sandbox.settings(latency_ms=0)
    assert GroundTruth.of(sandbox.export()).mismatches(merchant) == {}
    assert LoyaltyList.objects.get(merchant=merchant).item_count > 0


def wait_until(condition, process, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, process.output()
        time.sleep(0.1)
