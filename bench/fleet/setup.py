"""The fleet benchmark's world: the multi-program sandbox, N merchants seeded in bulk, the clusters.

**What is seeded in bulk, and what is not.** The merchants, their Smile connections (private API keys
``api_fleet_<n>``, the program's account id for webhook routing) and three lists each (all members,
members and candidates, the Gold tier) are inserted with ``bulk_create``: rows a merchant's admin would
have made by hand. Nothing of the sync state is seeded: every merchant's first sync (a full walk of its
program) runs through the real clusters, so the snapshot, the lists and the watermarks the measured
rounds start from are the engine's own.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from integrations.smile.sandbox.process import SandboxProcess

from ..common import PYTHON, ROOT, TMP

ACCOUNT_ID = 1  # program n's Smile account id is ACCOUNT_ID + n - 1
TIER_LIST = "Gold"


def sandbox(*, merchants: int, largest: int, distribution: str, latency_ms: int, seed: int = 1):
    """A sandbox serving ``merchants`` programs (program 1 has ``largest`` customers, the others follow
    ``distribution``) on a data file kept under bench/tmp/ for the next run."""
    TMP.mkdir(parents=True, exist_ok=True)
    tag = distribution.replace(":", "-").replace(",", "-").replace("=", "")
    db = TMP / f"fleet-{merchants}-{largest}-{tag}-{seed}.sqlite3"
    return SandboxProcess(
        customers=largest,
        seed=seed,
        programs=merchants,
        size_distribution=distribution,
        latency_ms=latency_ms,
        rate_limit=10,
        account_id=ACCOUNT_ID,
        db=db,
        startup_timeout=900,
    ).start()


def programs_ready(sb, count: int, threads: int = 8) -> dict[int, dict]:
    """Generate every program (first use; kept in the data file) and learn its tiers, through the
    control API (no injected latency): {n: {"gold": tier id, "customers": size}}."""
    sizes = {p["id"]: p["customers"] for p in sb.programs()}

    def one(n: int) -> tuple[int, dict]:
        tiers = sb.for_program(n).control("GET", "vip_tiers")["vip_tiers"]
        gold = next(t["id"] for t in tiers if t["name"] == TIER_LIST)
        return n, {"gold": gold, "customers": sizes[n]}

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return dict(pool.map(one, range(1, count + 1)))


def seed(programs: dict[int, dict]) -> dict[int, int]:
    """Merchants, connections and lists for every program, in bulk: {program n: merchant id}."""
    from django.db import transaction

    from integrations.smile.models import SmileConnection
    from loyalty_lists.lists.models import Audience, LoyaltyList
    from loyalty_lists.merchants.models import Merchant

    with transaction.atomic():
        merchants = Merchant.objects.bulk_create(
            [Merchant(slug=f"fleet-{n}", name=f"Fleet store {n}") for n in programs], batch_size=2000
        )
        connections = []
        for n, merchant in zip(programs, merchants, strict=True):
            connection = SmileConnection(
                merchant=merchant, auth_kind="api_key", status="connected", account_id=str(ACCOUNT_ID + n - 1)
            )
            connection.set_tokens(access_token=f"api_fleet_{n}")
            connections.append(connection)
        SmileConnection.objects.bulk_create(connections, batch_size=2000)
        lists = []
        for n, merchant in zip(programs, merchants, strict=True):
            lists += [
                LoyaltyList(merchant=merchant, name="All members", audience=Audience.ALL_MEMBERS),
                LoyaltyList(
                    merchant=merchant, name="Members and candidates", audience=Audience.MEMBERS_AND_CANDIDATES
                ),
                LoyaltyList(
                    merchant=merchant,
                    name=TIER_LIST,
                    audience=Audience.VIP_TIER,
                    vip_tier_id=programs[n]["gold"],
                ),
            ]
        LoyaltyList.objects.bulk_create(lists, batch_size=2000)
    return {n: m.pk for n, m in zip(programs, merchants, strict=True)}


class Cluster:
    """One ``manage.py qcluster`` (its own session, so it and its workers can be stopped together)."""

    def __init__(self, name: str, env: dict, log_dir: Path, queue: str | None = None):
        self.name, self.log = name, log_dir / f"{name}.log"
        env = dict(env, **({"Q_CLUSTER_NAME": queue} if queue else {}))
        with self.log.open("wb") as fh:
            self.proc = subprocess.Popen(  # noqa: S603
                [PYTHON, "manage.py", "qcluster"],
                cwd=ROOT,
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def clusters_stop(clusters: list[Cluster], timeout: float = 15.0) -> None:
    """SIGTERM to every cluster at once, then SIGKILL to the process groups of those still running."""
    for cluster in clusters:
        if cluster.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(cluster.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for cluster in clusters:
        try:
            cluster.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(cluster.proc.pid, signal.SIGKILL)
            cluster.proc.wait(10)


def clusters_start(
    clusters: list[Cluster], env: dict, log_dir: Path, *, default: int, full: int, full_queue: str
) -> None:
    """Start the clusters into ``clusters`` (so the caller can stop them whatever happens) and wait
    until each one reports its status to the broker."""
    from django_q.status import Stat

    clusters += [Cluster(f"qcluster-{i}", env, log_dir) for i in range(1, default + 1)]
    clusters += [Cluster(f"qcluster-full-{i}", env, log_dir, queue=full_queue) for i in range(1, full + 1)]
    deadline = time.monotonic() + 120
    while len(Stat.get_all()) < len(clusters):
        dead = [c.name for c in clusters if c.proc.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(f"clusters did not start: {dead or 'timeout'} (logs: {log_dir})")
        time.sleep(0.2)
