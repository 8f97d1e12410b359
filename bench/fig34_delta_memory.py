"""Figures 3 and 4 — delta cost vs the full sync of the same run, and the full sync's peak RSS growth.

Unthrottled sandbox without latency (the engine's own cost; at Smile's real limit the full sync is slower
still and the delta ratio only better). 0.1 % of the customers are changed through the control API.
"""

import random

from .common import BenchDb, Figure, export_customers, sandbox

TARGET_DELTA = 0.01
TARGET_RSS_MB = 100


def run(sizes: dict) -> list[Figure]:
    n = sizes["delta"]
    sb = sandbox(n, rate_limit=0, latency_ms=0)
    try:
        db = BenchDb("delta", sb, rate_limit=0)
        full = db.sync(full=True)
        changed = max(1, n // 1000)
        rng = random.Random(42)
        export_ids = _customer_ids(sb)
        for cid in rng.sample(export_ids, changed):
            sb.patch_customer(cid, points_balance=rng.randint(0, 5000))
        delta = db.sync(full=False)
        db.remove()
    finally:
        sb.stop()
    ratio = delta["run_seconds"] / full["run_seconds"]
    # a child process of the sync (none today) would be all growth
    growth_mb = (full["rss_peak_kb"] - full["rss_before_kb"] + full.get("children_rss_peak_kb", 0)) / 1024
    return [
        Figure(
            3,
            f"Delta cycle, {changed:,} of {n:,} customers changed",
            delta["run_seconds"],
            "s",
            full["run_seconds"],
            "full sync, same run",
            ratio,
            "share of full",
            f"<= {TARGET_DELTA:.0%}",
            ratio <= TARGET_DELTA,
            {"customers": n, "changed": changed, "delta": delta, "full": full},
        ),
        Figure(
            4,
            f"Peak RSS growth over a full sync of {n:,} customers",
            growth_mb,
            "MB",
            full["rss_before_kb"] / 1024,
            "RSS right before the sync (MB)",
            full["rss_peak_kb"] / max(full["rss_before_kb"], 1),
            "peak / before",
            f"<= {TARGET_RSS_MB} MB",
            growth_mb <= TARGET_RSS_MB,
            {
                "customers": n,
                "full": full,
                "summary": (
                    f"the sync's process {(full['rss_peak_kb'] - full['rss_before_kb']) / 1024:.1f} MB"
                    f" + child processes {full.get('children_rss_peak_kb', 0) / 1024:.1f} MB"
                ),
            },
        ),
    ]


def _customer_ids(sb) -> list[int]:
    """Every customer id, from the sandbox's ground-truth export."""
    ids = [row["id"] for row in export_customers(sb)]
    if not ids:
        raise RuntimeError("the sandbox export listed no customers")
    return ids
