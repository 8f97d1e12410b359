"""Failure drills on the production path: PostgreSQL, Redis, two real qcluster processes, a live sandbox.

* two cycles for one merchant triggered at once → exactly one runs (the other is served by one
  follow-up cycle afterwards, never at the same time);
* a 30-second 429 storm while both clusters sync (two merchants sharing one Smile token, so both
  clusters draw on one rate-limit budget): runs fail or succeed without corruption, the sandbox's request
  log shows at most 10 requests in any sliding second for the token, and the next cycles converge;
* ``kill -9`` of the worker running a full sync of 50,000 customers: the lease expires, the next cycle
  resumes and completes, every list equals the ground truth, and each cursor chain fetches at most one
  page twice (the one it had in flight: a chain commits a page with its cursor before asking for the next).

Run with ``bin/with-services .venv/bin/pytest tests/prod -q``.
"""

import base64
import os
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule, Task

from integrations.smile.services import connection_api_key_connect
from loyalty_lists.lists import services
from loyalty_lists.lists.management.commands.ensure_schedules import SWEEP, SWEEP_NAME
from loyalty_lists.lists.models import LoyaltyList, SyncLease, SyncRun, SyncState
from loyalty_lists.lists.sync import queue
from loyalty_lists.merchants.models import Merchant
from tests.integrations.smile.conftest import (
    connect_with_sandbox_tokens,
    max_in_any_window,
    point_settings_at,
)
from tests.prod.processes import PYTHON, session_members, wait_until
from tests.support.ground_truth import GroundTruth, published

pytestmark = pytest.mark.usefixtures("transactional_db")

SHARED_KEY = "api_prod_drill_shared_key"


def smile_env(sandbox, **extra) -> dict:
    env = {
        "SMILE_API_BASE": sandbox.api_base,
        "SMILE_OAUTH_AUTHORIZE_URL": f"{sandbox.base_url}/oauth2/authorize",
        "SMILE_OAUTH_TOKEN_URL": f"{sandbox.base_url}/oauth2/token",
        "SMILE_CLIENT_ID": sandbox.client_id,
        "SMILE_CLIENT_SECRET": sandbox.client_secret,
        "LOG_LEVEL": "INFO",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_clusters(start, prod_env, sandbox, **extra):
    """Two ``manage.py qcluster`` processes (one worker each) on the Redis broker and the test database."""
    env = dict(prod_env, Q_WORKERS="1", **smile_env(sandbox, **extra))
    clusters = [start(f"qcluster-{n}", [PYTHON, "manage.py", "qcluster"], env) for n in (1, 2)]
    for cluster in clusters:
        wait_until(
            lambda c=cluster: "running." in c.output() or not c.running(),
            timeout=90,
            message="a qcluster did not start",
        )
        assert cluster.running(), cluster.describe()
    return clusters


def describe(clusters) -> str:
    return "\n".join(c.describe() for c in clusters)


def enqueue_cycle(merchant, kind="delta") -> str:
    """*Sync now*: queue a cycle (or join the queued one) and send a task for it; the task's id."""
    queue.cycle_request(merchant_id=merchant.pk, kind=kind)
    return queue.cycle_send(merchant.pk)


def database_activity() -> str:
    """What every other connection to the test database is doing (for failure messages)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, wait_event_type, wait_event, now() - xact_start, left(query, 200)"
            " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return "\n".join(str(row) for row in cursor.fetchall())


def wait_for_tasks(ids, clusters, timeout: float) -> list[str]:
    try:
        wait_until(lambda: Task.objects.filter(id__in=ids).count() == len(ids), timeout=timeout, interval=0.5)
    except AssertionError:
        raise AssertionError(
            f"tasks {ids} did not finish in {timeout}s\n{database_activity()}\n{describe(clusters)}"
        ) from None
    return list(Task.objects.filter(id__in=ids).values_list("result", flat=True))


def cycles(merchant):
    return SyncRun.objects.filter(merchant=merchant, kind__in=["delta", "full"]).order_by("pk")


# --- 1. two cycles at once --------------------------------------------------------------------------
def test_two_cycles_triggered_at_once_on_two_clusters_run_exactly_once(
    smile_sandbox_factory, start, prod_env, settings
):
    sandbox = smile_sandbox_factory(customers=300, seed=4, rate_limit=0)
    point_settings_at(settings, sandbox)
    merchant = Merchant.objects.create(slug="once", name="Once")
    connect_with_sandbox_tokens(merchant, sandbox)
    services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    clusters = start_clusters(start, prod_env, sandbox, SMILE_RATE_LIMIT_PER_SECOND=0)
    sandbox.settings(latency_ms=1500)  # a cycle takes seconds: the two tasks overlap

    # Two tasks for one queued cycle at once, on two clusters: exactly one runs it.
    ids = [enqueue_cycle(merchant), enqueue_cycle(merchant)]
    wait_until(lambda: cycles(merchant).filter(status="running").exists(), timeout=60, interval=0.1)
    # *Sync now* while it runs: a second queued cycle, which the running one sends when it ends.
    ids.append(enqueue_cycle(merchant))
    wait_until(
        lambda: (
            Task.objects.count() >= 4
            and not cycles(merchant).filter(status__in=["queued", "running"]).exists()
        ),
        timeout=120,
        interval=0.5,
        message=f"the queued cycle did not run\n{describe(clusters)}",
    )
    results = list(Task.objects.values_list("result", flat=True))
    runs = list(cycles(merchant).order_by("started_at"))
    assert len(runs) == 2, ([(r.pk, r.status) for r in runs], results)
    assert sum(f"run {runs[0].pk} succeeded" in r for r in results) == 1, results
    assert all(r.status == "succeeded" for r in runs), [r.error_message for r in runs]
    assert runs[0].finished_at <= runs[1].started_at, "two cycles of one merchant ran at the same time"
    sandbox.settings(latency_ms=0)
    assert GroundTruth.of(sandbox.export()).mismatches(merchant) == {}


# --- 2. the 30-second 429 storm -----------------------------------------------------------------------
def test_a_30_second_429_storm_with_two_clusters_corrupts_nothing_and_never_exceeds_the_budget(
    smile_sandbox_factory, start, prod_env, settings, monkeypatch
):
    sandbox = smile_sandbox_factory(customers=1500, seed=9, rate_limit=10, api_key=[SHARED_KEY])
    point_settings_at(settings, sandbox)
    settings.SMILE_RATE_LIMIT_PER_SECOND = 10
    merchants = []
    for slug in ("storm-a", "storm-b"):  # one Smile token shared by both: one budget for both clusters
        merchant = Merchant.objects.create(slug=slug, name=slug)
        connection_api_key_connect(merchant=merchant, user=None, api_key=SHARED_KEY)
        services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
        services.list_create(
            merchant=merchant, name="Everyone", audience="members_and_candidates", enqueue=False
        )
        assert services.sync_cycle_run(merchant_id=merchant.pk, kind="full").status == "succeeded"
        merchants.append(merchant)
    get_broker().purge_queue()  # the first syncs queued on connect: done above, in this process
    clusters = start_clusters(start, prod_env, sandbox, SMILE_RATE_LIMIT_PER_SECOND=10)
    export = sandbox.export()
    for customer in export["customers"][:40]:  # changes for the cycles to publish
        sandbox.patch_customer(customer["id"], points_balance=customer["points_balance"] + 7)
    for merchant in merchants:  # every cycle walks everyone: long enough to meet the storm
        SyncState.objects.filter(merchant=merchant).update(watermark=timezone.now() - timedelta(days=3650))
    before = {m.pk: published(m) for m in merchants}
    started = time.time()

    sandbox.fault("429", seconds=30)
    ids = [enqueue_cycle(m) for m in merchants]  # one per cluster ("Sync now" twice)
    results = wait_for_tasks(ids, clusters, timeout=150)
    wait_until(
        lambda: not SyncRun.objects.filter(status="running").exists(),
        timeout=120,
        message=f"a cycle is still running\n{describe(clusters)}",
    )

    truth = GroundTruth.of(sandbox.export())
    outcomes = {}
    for merchant in merchants:
        run = cycles(merchant).last()
        outcomes[merchant.slug] = run.status
        if run.status == "failed":
            assert published(merchant) == before[merchant.pk], (
                f"the failed run of {merchant.slug} changed a list"
            )
            assert run.error_message
        else:
            assert run.status == "succeeded", (run.status, results, describe(clusters))
            assert truth.mismatches(merchant) == {}
    wait_until(lambda: not sandbox.faults(), timeout=60, interval=0.5, message="the storm did not end")

    ids = [enqueue_cycle(m) for m in merchants]
    wait_for_tasks(ids, clusters, timeout=150)
    wait_until(lambda: not SyncRun.objects.filter(status="running").exists(), timeout=120)
    truth = GroundTruth.of(sandbox.export())
    for merchant in merchants:
        run = cycles(merchant).last()
        assert run.status == "succeeded", (run.error_message, describe(clusters))
        assert truth.mismatches(merchant) == {}

    log = sandbox.requests_log(since=started)
    per_token = Counter(entry["token"] for entry in log)
    assert len(per_token) == 1, per_token  # both merchants, both clusters: one token
    assert sum(entry["status"] == 429 for entry in log) >= 2, "the storm was met"
    worst = max_in_any_window([entry["ts"] for entry in log])
    assert worst <= 10, f"{worst} requests in one second for one token ({outcomes})"


# --- 3. kill -9 during a 50,000-customer full sync ---------------------------------------------------
def sockets_to(port: int) -> set[str]:
    """Inodes of established TCP connections to 127.0.0.1:port (from /proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == port and fields[3] == "01":  # 01: ESTABLISHED
            inodes.add(fields[9])
    return inodes


def pids_talking_to(port: int, candidates: list[int]) -> list[int]:
    inodes = sockets_to(port)
    found = []
    for pid in candidates:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if any(link.startswith("socket:[") and link[8:-1] in inodes for link in links):
            found.append(pid)
    return found


def fetching_workers(port: int, candidates: list[int]) -> list[int]:
    """The workers fetching from Smile."""
    return sorted(pids_talking_to(port, candidates))


def chain_of(chains: dict, state: str, cursor: str) -> str:
    """The key of the checkpointed chain that fetched this page: same state, and the cursor's id (ids
    below it) inside the chain's id range (a split chain covers ``stop_below <= id < id_below``)."""
    below = int(base64.b64decode(cursor).decode().split(",")[0][3:]) if cursor else None
    for key, (chain_state, id_below, stop_below) in chains.items():
        if (chain_state or "") != state:
            continue
        if below is None:
            if id_below is None:
                return key
        elif (id_below is None or below <= id_below) and (stop_below is None or below > stop_below):
            return key
    raise AssertionError(f"no chain fetched {state} {cursor}: {chains}")


def refetched_pages(log) -> dict:
    """(state, cursor) of every customer page the log shows fetched more than once (200s only)."""
    pages = Counter()
    for entry in log:
        if entry["path"] == "/v1/customers" and entry["status"] == 200:
            query = parse_qs(entry["query"])
            if "updated_at_min" in query:
                continue  # the catch-up pass after the walk is not part of the walk
            pages[(query.get("state", [""])[0], query.get("cursor", [""])[0])] += 1
    return {page: n for page, n in pages.items() if n > 1}


LEASE_TTL_SECONDS = 15


def test_kill_9_of_the_worker_mid_full_sync_of_50000_customers_loses_nothing(
    smile_sandbox_factory, start, prod_env, settings
):
    sandbox = smile_sandbox_factory(customers=50_000, seed=12, rate_limit=0, latency_ms=40)
    point_settings_at(settings, sandbox)
    merchant = Merchant.objects.create(slug="killed", name="Killed")
    connect_with_sandbox_tokens(merchant, sandbox)
    services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    tier = sandbox.export()["vip_tiers"][0]
    LoyaltyList.objects.create(merchant=merchant, name="Tier", audience="vip_tier", vip_tier_id=tier["id"])
    clusters = start_clusters(
        start, prod_env, sandbox, SMILE_RATE_LIMIT_PER_SECOND=0, SYNC_LEASE_TTL_SECONDS=LEASE_TTL_SECONDS
    )
    # The sweep's schedule, as ensure_schedules makes it (every minute): nobody presses anything below.
    Schedule.objects.create(
        name=SWEEP_NAME,
        func=SWEEP,
        schedule_type=Schedule.MINUTES,
        minutes=1,
        repeats=-1,
        next_run=timezone.now(),
    )
    started = time.time()
    before = published(merchant)

    first = enqueue_cycle(merchant, "full")
    run = wait_until(
        lambda: cycles(merchant).filter(pages_fetched__gte=30).first(),
        timeout=120,
        interval=0.05,
        message=f"the full walk did not get going\n{describe(clusters)}",
    )
    candidates = [pid for c in clusters for pid in session_members(c.pid) if pid != c.pid]
    worker = wait_until(
        lambda: fetching_workers(sandbox.port, candidates),
        timeout=30,
        interval=0.02,
        message="no worker talks to Smile",
    )
    assert len(worker) == 1, worker
    os.kill(worker[0], signal.SIGKILL)
    killed_at = time.time()

    run.refresh_from_db()
    assert run.status == "running" and run.pages_fetched < 200, "the kill landed mid-walk"
    assert published(merchant) == before, "a killed worker published something"
    checkpoint = SyncState.objects.get(merchant=merchant).full_walk
    assert checkpoint, "the walk's checkpoint survives the kill"
    # The killed worker never releases its lease: it expires (SYNC_LEASE_TTL_SECONDS, shortened here).
    lease = SyncLease.objects.get(merchant=merchant)
    assert lease.holder and lease.expires_at > timezone.now(), "the dead worker's lease is still held"
    wait_until(
        lambda: SyncLease.objects.get(merchant=merchant).expires_at < timezone.now(),
        timeout=LEASE_TTL_SECONDS + 5,
        message="the lease did not expire",
    )

    # The sweep (a minute's schedule) sees the expired lease: it fails the lost run ("worker lost") and
    # queues a cycle, which resumes the full walk from its checkpoint, by itself.
    wait_until(
        lambda: cycles(merchant).filter(pk__gt=run.pk, status="succeeded").exists(),
        timeout=300,  # the sweep's minute, then a 50,000-customer walk's remainder on a loaded machine
        interval=0.5,
        message=f"nothing resumed the walk by itself\n{describe(clusters)}",
    )
    recovered_at = time.time()
    run.refresh_from_db()
    assert run.status == "failed" and "Worker lost" in run.error_message
    resumed = cycles(merchant).last()
    assert resumed.started_at.timestamp() - killed_at < LEASE_TTL_SECONDS + 90, "restarted within TTL + sweep"
    assert resumed.pk != run.pk and resumed.resumed and resumed.status == "succeeded", resumed.error_message
    assert GroundTruth.of(sandbox.export()).mismatches(merchant) == {}
    assert Task.objects.filter(id=first).count() == 0  # the killed task never reported back
    for cluster in clusters:
        assert cluster.running(), f"a cluster died with its worker\n{cluster.describe()}"

    # A chain asks for its next page only once the last one is committed with its cursor, so each
    # chain refetches at most the one page it had in flight when the worker died.
    refetched = refetched_pages(sandbox.requests_log(since=started))
    assert all(n == 2 for n in refetched.values()), refetched  # nothing fetched three times
    per_chain = Counter(chain_of(checkpoint["chains"], state, cursor) for state, cursor in refetched)
    print(
        f"killed {killed_at - started:.1f}s in, after {run.pages_fetched} pages; resumed by itself"
        f" {resumed.started_at.timestamp() - killed_at:.1f}s after the kill (lease TTL {LEASE_TTL_SECONDS}s),"
        f" converged {recovered_at - killed_at:.1f}s after it; the resumed run took"
        f" {(resumed.finished_at - resumed.started_at).total_seconds():.1f}s; pages fetched twice per"
        f" chain: {dict(per_chain)}"
    )
    for cluster in clusters:  # the cycles' own log lines, for the record (shown with -s or on failure)
        print("\n".join(line for line in cluster.output().splitlines() if "lists.sync" in line))
    assert max(per_chain.values(), default=0) <= 1, per_chain
