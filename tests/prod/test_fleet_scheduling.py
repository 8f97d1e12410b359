"""The fleet on the production path (PostgreSQL, Redis, real clusters): the delta fan-out of 10,000
merchants is a handful of statements, and a big merchant's full walk on the full-walk queue does not
hold up small merchants' deltas on the default queue (``lists/sync/dispatch.py``)."""

import time
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.brokers import get_broker

from integrations.smile.models import SmileConnection
from loyalty_lists.lists import services
from loyalty_lists.lists.models import LoyaltyList, SyncRun, SyncState
from loyalty_lists.lists.sync import queue
from loyalty_lists.merchants.models import Merchant
from tests.integrations.smile.conftest import point_settings_at
from tests.prod.processes import PYTHON, wait_until

pytestmark = pytest.mark.usefixtures("transactional_db")


def test_the_delta_fanout_of_ten_thousand_merchants_is_a_handful_of_statements(settings):
    settings.SYNC_FULL_QUEUE = "full"
    merchants = Merchant.objects.bulk_create(
        [Merchant(slug=f"m{i}", name=f"M {i}") for i in range(10_000)], batch_size=2000
    )
    SmileConnection.objects.bulk_create(
        [SmileConnection(merchant=m, status=SmileConnection.Status.CONNECTED) for m in merchants],
        batch_size=2000,
    )
    SyncState.objects.bulk_create(
        [SyncState(merchant=m, watermark=datetime(2026, 12, 1, tzinfo=UTC)) for m in merchants[100:]],
        batch_size=2000,
    )
    default, full = get_broker(), get_broker("full")
    default.purge_queue()
    full.purge_queue()

    with CaptureQueriesContext(connection) as queries:
        sent = queue.cycles_fanout(kind="delta")

    assert sent == 10_000
    # connected merchants, queued runs, BEGIN + 10 INSERTs of 1,000 runs + COMMIT, the merchants ready
    # for a delta; the tasks go to Redis in one RPUSH per 1,000
    assert len(queries) <= 15, [q["sql"][:60] for q in queries if not q["sql"].startswith("INSERT")]
    assert (default.queue_size(), full.queue_size()) == (9_900, 100)  # first syncs walk: the full queue
    assert SyncRun.objects.filter(status="queued").count() == 10_000


def _connect(merchant, program: int, sandbox) -> None:
    connection_ = SmileConnection(
        merchant=merchant, auth_kind="api_key", status="connected", account_id=str(program)
    )
    connection_.set_tokens(access_token=sandbox.for_program(program).api_key)
    connection_.save()
    LoyaltyList.objects.create(merchant=merchant, name="Members", audience="all_members")


def test_a_big_full_walk_and_small_deltas_run_at_once_on_two_queues(
    smile_sandbox_factory, start, prod_env, settings
):
    # Program 1: 30,000 customers at 10 req/s = 120 pages over 12 s or more; programs 2-4: 40 each.
    sandbox = smile_sandbox_factory(
        customers=30_000, programs=4, size_distribution="fixed:40", rate_limit=10, seed=3
    )
    point_settings_at(settings, sandbox)
    settings.SYNC_FULL_QUEUE = "full"
    big = Merchant.objects.create(slug="big", name="Big")
    small = [Merchant.objects.create(slug=f"small{n}", name=f"Small {n}") for n in (2, 3, 4)]
    _connect(big, 1, sandbox)
    for n, merchant in zip((2, 3, 4), small, strict=True):
        _connect(merchant, n, sandbox)
        first = services.sync_cycle_run(merchant_id=merchant.pk, kind="full")  # in this process
        assert first.status == "succeeded", first.error_message

    env = dict(
        prod_env, Q_WORKERS="1", SYNC_FULL_QUEUE="full", SMILE_API_BASE=sandbox.api_base, LOG_LEVEL="INFO"
    )
    clusters = [
        start("qcluster-default", [PYTHON, "manage.py", "qcluster"], env),
        start("qcluster-full", [PYTHON, "manage.py", "qcluster"], dict(env, Q_CLUSTER_NAME="full")),
    ]
    for cluster in clusters:
        wait_until(lambda c=cluster: "running." in c.output(), timeout=90, message=cluster.describe())

    services.sync_enqueue(merchant=big)  # its first sync: a full walk, sent to the full queue
    walk = wait_until(
        lambda: SyncRun.objects.filter(merchant=big, status="running", customers_fetched__gt=0).first(),
        timeout=60,
        message="the big merchant's walk did not start",
    )
    fanned_out = time.monotonic()
    queue.cycles_fanout(kind="delta")  # the schedule's delta round, during the walk

    def small_deltas_done():
        done = SyncRun.objects.filter(merchant__in=small, kind="delta", status="succeeded")
        return done.count() == 3 and list(done)

    deltas = wait_until(small_deltas_done, timeout=60, message="\n".join(c.describe() for c in clusters))
    waited = time.monotonic() - fanned_out
    walk.refresh_from_db()
    assert walk.status == "running" and walk.kind == "full", "the deltas finished while the big walk ran"
    assert waited < 10, f"small deltas waited {waited:.1f}s"
    assert all(d.started_at >= walk.started_at for d in deltas)
    big_delta = SyncRun.objects.get(merchant=big, status="queued")
    assert big_delta.kind == "delta", "the big merchant's own delta waits for its walk"
