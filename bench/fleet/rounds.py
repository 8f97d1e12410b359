"""Rounds of the schedule, played by the driver and run by the real clusters.

A *round* is what the delta schedule does every ``SYNC_INTERVAL_MINUTES``: ``cycles_fanout("delta")``
queues a cycle for every connected merchant and pushes their tasks; the clusters run them. The driver
waits until every run of the round has ended and reads, per merchant, when its cycle started and ended
relative to the fan-out.

**Freshness lag at a 15-minute interval, from back-to-back rounds.** Just before a merchant's cycle of
round r+1 ends, its lists show Smile as of the start of its cycle of round r (the watermark). With the
schedule's interval I between fan-outs, that age is ``I + end(r+1) - start(r)``, offsets measured from
each round's fan-out. So two rounds run back to back give every merchant's worst lag at I = 900 s
without waiting 15 minutes between them; the p50 / p99 are across merchants.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

INTERVAL = 900.0  # seconds: the 15-minute interval the lags are stated for
DONE = ("succeeded", "failed", "held")


@dataclass
class Round:
    wall: float  # seconds from the fan-out until the last cycle of the round ended
    cpu: dict[str, float]  # CPU seconds by process group during the round
    started: dict[int, float] = field(default_factory=dict)  # merchant -> start offset (s)
    ended: dict[int, float] = field(default_factory=dict)  # merchant -> end offset (s)
    statuses: dict[str, int] = field(default_factory=dict)
    requests: int = 0  # Smile (/v1) requests the sandbox logged during the round

    @property
    def merchants(self) -> int:
        return len(self.ended)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else 0.0


def wait_runs(first_pk: int, *, timeout: float, poll: float = 1.0) -> None:
    """Until every run with pk >= first_pk has ended (a primary-key range: cheap to poll)."""
    from loyalty_lists.lists.models import SyncRun

    deadline = time.monotonic() + timeout
    while SyncRun.objects.filter(pk__gte=first_pk, status__in=["queued", "running"]).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs from #{first_pk} still not done after {timeout:.0f}s")
        time.sleep(poll)


def next_pk() -> int:
    from django.db.models import Max

    from loyalty_lists.lists.models import SyncRun

    return (SyncRun.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


def smile_requests(sb, since: float) -> int:
    return len([r for r in sb.requests_log(since=since) if r["path"].startswith("/v1/")])


def delta_round(meter, sb, *, timeout: float, exclude: tuple[int, ...] = ()) -> Round:
    """One delta round: fan out, wait for every cycle, read offsets and CPU."""
    from django.utils import timezone

    from loyalty_lists.lists.sync import queue

    first_pk = next_pk()
    meter.read()
    epoch, t0, started = time.time(), timezone.now(), time.monotonic()
    cpu_driver = time.process_time()
    queue.cycles_fanout(kind="delta")
    fanout_cpu = time.process_time() - cpu_driver
    wait_runs(first_pk, timeout=timeout)
    wall = time.monotonic() - started
    cpu = meter.read()
    cpu["workers"] = round(cpu.get("workers", 0.0) + fanout_cpu, 3)
    return _read(first_pk, t0, wall, cpu, sb, epoch, exclude)


def _read(first_pk: int, t0: datetime, wall: float, cpu: dict, sb, epoch: float, exclude) -> Round:
    from loyalty_lists.lists.models import SyncRun

    result = Round(wall=round(wall, 2), cpu=cpu, requests=smile_requests(sb, epoch))
    rows = SyncRun.objects.filter(pk__gte=first_pk, kind__in=["delta", "full"]).values_list(
        "merchant_id", "started_at", "finished_at", "status"
    )
    for merchant_id, start, end, status in rows:
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if merchant_id in exclude or end is None:
            continue
        result.started[merchant_id] = (start - t0).total_seconds()
        result.ended[merchant_id] = (end - t0).total_seconds()
    return result


def lags(previous: Round, current: Round, interval: float = INTERVAL) -> list[float]:
    """Every merchant's worst freshness lag at ``interval`` (see the module docstring)."""
    return [interval + current.ended[m] - previous.started[m] for m in current.ended if m in previous.started]


def lag_summary(values: list[float]) -> dict:
    return {
        "p50_s": round(statistics.median(values), 1) if values else None,
        "p99_s": round(pct(values, 0.99), 1),
        "max_s": round(max(values), 1) if values else None,
    }


def walk_round(meter, sb, largest: int, *, timeout: float) -> tuple[Round, dict]:
    """The largest merchant's full walk (on the full-walk queue) and, once it is fetching, a delta round
    of everyone: how long the small merchants' cycles took meanwhile."""
    from loyalty_lists.lists.models import SyncRun
    from loyalty_lists.lists.sync import queue

    queue.cycle_request(merchant_id=largest, kind="full")
    queue.cycle_send(largest)
    deadline = time.monotonic() + timeout
    while not (
        walk := SyncRun.objects.filter(
            merchant_id=largest, kind="full", status="running", customers_fetched__gt=0
        )
        .order_by("-pk")
        .first()
    ):
        if time.monotonic() > deadline:
            raise TimeoutError("the largest merchant's full walk did not start")
        time.sleep(0.2)
    during = delta_round(meter, sb, timeout=timeout, exclude=(largest,))
    walk.refresh_from_db()
    overlapped = walk.status == "running"  # the round ended before the walk did
    while SyncRun.objects.filter(pk=walk.pk, status="running").exists():
        time.sleep(1)
    walk.refresh_from_db()
    info = {
        "walk_customers": walk.customers_fetched,
        "walk_seconds": round((walk.finished_at - walk.started_at).total_seconds(), 1),
        "walk_status": walk.status,
        "round_ended_while_walking": overlapped,
    }
    return during, info


def day_of_fulls(meter, *, merchants: int, day_minutes: float, timeout: float, tick_minutes: int = 5) -> dict:
    """One day of the full-reconcile schedule compressed into ``day_minutes``: a tick every
    ``tick_minutes`` of simulated time, each queueing the merchants whose slot came (sync/slots.py)."""
    from django.utils import timezone

    from loyalty_lists.lists.sync import dispatch, slots

    first_pk = next_pk()
    day0 = timezone.now()
    slots.fulls_due_queue(now=day0)  # every merchant gets its next slot
    ticks = 24 * 60 // tick_minutes
    pace = day_minutes * 60 / ticks
    meter.read()
    started = time.monotonic()
    per_tick, depth_max = [], 0
    for k in range(1, ticks + 1):
        per_tick.append(slots.fulls_due_queue(now=day0 + timedelta(minutes=tick_minutes * k)))
        depth_max = max(depth_max, sum(dispatch.queue_depths().values()))
        time.sleep(max(0.0, started + k * pace - time.monotonic()))
    wait_runs(first_pk, timeout=timeout)
    wall = time.monotonic() - started
    cpu = meter.read()
    return {
        "fulls": sum(per_tick),
        "merchants": merchants,
        "ticks": ticks,
        "max_per_tick": max(per_tick),
        "day_compressed_to_s": round(day_minutes * 60, 1),
        "wall_s": round(wall, 1),
        "max_queue_depth": depth_max,
        "cpu_s": cpu,
    }
