"""What one merchant's no-change delta costs, and its physical floor, measured in this process.

* **The delta** (``no_change_sample``): for a sample of merchants, queue a delta and run its task here
  (``tasks.sync_cycle_task``, what a worker runs): SQL statements (Django's query log), Smile requests
  (the process's own ``loyalty_lists_smile_requests_total``) and CPU (this process; the database's
  share is read from its process tree around the sample).
* **The floor** (``floor_sample``): the least a delta can do — the two Smile requests (customers
  updated since the watermark, the tier list) over one keep-alive connection and five indexed
  statements by primary key (take the lease, read the state, record the run, move the watermark,
  free the lease) — for the same merchants, measured the same way.
"""

from __future__ import annotations

import statistics
import time

from .procs import cpu_seconds


def _smile_requests() -> float:
    from prometheus_client import REGISTRY

    return sum(
        REGISTRY.get_sample_value("loyalty_lists_smile_requests_total", {"outcome": o}) or 0.0
        for o in (
            "ok",
            "rate_limited",
            "unauthorized",
            "client_error",
            "server_error",
            "timeout",
            "unreachable",
        )
    )


def no_change_sample(merchant_ids: list[int], postmaster: int) -> dict:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from loyalty_lists.lists import tasks
    from loyalty_lists.lists.sync import queue

    queries, cpu_ms, requests = [], [], []
    db_before = cpu_seconds(postmaster)
    for merchant_id in merchant_ids:
        queue.cycle_request(merchant_id=merchant_id, kind="delta")
        reset_queries()
        smile_before, cpu_before = _smile_requests(), time.process_time()
        with CaptureQueriesContext(connection) as captured:
            answer = tasks.sync_cycle_task(merchant_id)
        cpu_ms.append((time.process_time() - cpu_before) * 1000)
        requests.append(_smile_requests() - smile_before)
        queries.append(len(captured))
        if " succeeded" not in answer:
            raise RuntimeError(f"a no-change delta did not succeed: {answer}")
    db_ms = (cpu_seconds(postmaster) - db_before) * 1000 / len(merchant_ids)
    return {
        "sample": len(merchant_ids),
        "queries_median": statistics.median(queries),
        "queries_max": max(queries),
        "smile_requests_median": statistics.median(requests),
        "app_cpu_ms_median": round(statistics.median(cpu_ms), 1),
        "db_cpu_ms_mean": round(db_ms, 1),
        "cpu_ms": round(statistics.median(cpu_ms) + db_ms, 1),
    }


def floor_sample(merchant_ids: list[int], postmaster: int, api_base: str) -> dict:
    from datetime import timedelta

    import httpx
    from django.db import connection, transaction
    from django.db.models import F
    from django.utils import timezone

    from loyalty_lists.lists.models import SyncLease, SyncRun, SyncState

    keys = dict(
        SyncState.objects.filter(merchant_id__in=merchant_ids).values_list("merchant_id", "merchant__slug")
    )
    cpu_ms, wall_ms = [], []
    db_before = cpu_seconds(postmaster)
    with httpx.Client(base_url=api_base, timeout=30) as http:
        for merchant_id in merchant_ids:
            key = f"api_fleet_{keys[merchant_id].rsplit('-', 1)[1]}"
            headers = {"Authorization": f"Bearer {key}"}
            started, wall = time.process_time(), time.monotonic()
            since = (timezone.now() - timedelta(minutes=20)).isoformat()
            params = {"updated_at_min": since, "limit": 250, "include": "vip_status"}
            http.get("/customers", params=params, headers=headers).raise_for_status()
            http.get("/vip_tiers", headers=headers).raise_for_status()
            # five statements by primary key that write nothing new (the state the bench reads stays)
            lease = SyncLease.objects.filter(merchant_id=merchant_id)
            with transaction.atomic():
                lease.update(expires_at=F("expires_at"))
                SyncState.objects.filter(merchant_id=merchant_id).values_list("watermark", flat=True).first()
                last = (
                    SyncRun.objects.filter(merchant_id=merchant_id)
                    .order_by("-pk")
                    .values_list("pk", flat=True)
                )
                SyncRun.objects.filter(pk__in=last[:1]).update(finished_at=F("finished_at"))
                SyncState.objects.filter(merchant_id=merchant_id).update(watermark=F("watermark"))
            lease.update(holder=F("holder"))
            cpu_ms.append((time.process_time() - started) * 1000)
            wall_ms.append((time.monotonic() - wall) * 1000)
    connection.close()
    db_ms = (cpu_seconds(postmaster) - db_before) * 1000 / len(merchant_ids)
    return {
        "sample": len(merchant_ids),
        "smile_requests": 2,
        "statements": 8,  # five by primary key (one reads the newest run first), BEGIN, COMMIT
        "app_cpu_ms_median": round(statistics.median(cpu_ms), 1),
        "db_cpu_ms_mean": round(db_ms, 1),
        "cpu_ms": round(statistics.median(cpu_ms) + db_ms, 1),
        "wall_ms_median": round(statistics.median(wall_ms), 1),
    }
