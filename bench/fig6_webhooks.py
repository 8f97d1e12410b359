"""Figure 6 — webhook freshness: the sandbox sends ``customer/updated`` webhooks to the running app
(gunicorn, 2 workers) and its django-q2 cluster; the time from the change in Smile until the lookup API
shows it. Baseline in the same run: the webhook delivery itself (the sandbox's own timing of the POST).
"""

import random
import statistics
import time

import httpx

from .common import BenchDb, Figure, export_customers, sandbox
from .servers import gunicorn, qcluster

TARGET_P99_S = 1.0
TIMEOUT_S = 15.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def run(sizes: dict) -> list[Figure]:
    n, count = sizes["webhooks"], sizes["webhook_count"]
    sb = sandbox(n, rate_limit=10, latency_ms=0)
    servers = []
    try:
        db = BenchDb("webhooks", sb, rate_limit=10)
        db.sync(full=True)
        web, base = gunicorn(db.env, db.dir / "gunicorn-webhooks.log")
        servers.append(web)
        servers.append(qcluster(db.env, db.dir / "qcluster.log"))
        sb.settings(webhook_url=f"{base}/integrations/smile/webhooks")
        members = [c for c in _members(sb) if c["email"]]
        rng = random.Random(7)
        chosen = rng.sample(members, count)
        api = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {db.info['api_key']}"}, timeout=10
        )
        all_members = db.info["list_ids"][0]
        time.sleep(3 if count > 20 else 1)  # let the cluster start its workers
        sb.control("DELETE", "webhooks/deliveries")
        fresh, timeouts = [], 0
        for customer in chosen:
            points = customer["points_balance"] + rng.randint(1, 1000)
            started = time.monotonic()
            sb.patch_customer(customer["id"], points_balance=points)
            while True:
                body = api.post(
                    "/api/v1/lookups", json={"email": customer["email"], "list_ids": [all_members]}
                )
                body.raise_for_status()
                items = body.json()["results"][0]["items"]
                if any(
                    i["smile_customer_id"] == customer["id"] and i["points_balance"] == points for i in items
                ):
                    fresh.append(time.monotonic() - started)
                    break
                if time.monotonic() - started > TIMEOUT_S:
                    timeouts += 1
                    break
                time.sleep(0.01)
        deliveries = [d for d in sb.webhook_deliveries(wait=10) if d["topic"] == "customer/updated"]
        api.close()
        db.remove()
    finally:
        for server in servers:
            server.stop()
        sb.stop()
    if not fresh:
        raise RuntimeError("no webhook change became visible")
    delivery = [d["duration_ms"] / 1000 for d in deliveries if d.get("duration_ms") is not None]
    ok = sum(1 for d in deliveries if d.get("status") and 200 <= int(d["status"]) < 300)
    p50, p99 = statistics.median(fresh), pct(fresh, 0.99)
    d50, d99 = (statistics.median(delivery), pct(delivery, 0.99)) if delivery else (None, None)
    return [
        Figure(
            6,
            f"Webhook freshness, {count} customer/updated webhooks (p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms)",
            p99,
            "s (p99)",
            d99,
            "webhook delivery p99 (s)",
            p99 / d99 if d99 else None,
            "x delivery",
            f"p99 <= {TARGET_P99_S:g} s",
            p99 <= TARGET_P99_S and timeouts == 0,
            {
                "customers": n,
                "webhooks": count,
                "p50_s": p50,
                "p99_s": p99,
                "max_s": max(fresh),
                "timeouts": timeouts,
                "delivery_p50_s": d50,
                "delivery_p99_s": d99,
                "deliveries": len(deliveries),
                "deliveries_2xx": ok,
            },
        )
    ]


def _members(sb) -> list[dict]:
    return [row for row in export_customers(sb) if row["state"] == "member"]
