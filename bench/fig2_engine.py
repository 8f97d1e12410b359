"""Figure 2 — CPU cost of a full sync per 1,000 customers: unthrottled sandbox, no latency, SQLite,
200,000 customers, 3 lists. This is the figure that decides how many merchants one box serves (real
Smile caps a token at 10 req/s, so throughput beyond 2,500 customers/s is no user's figure).

Value: the CPU the sync's process (and any child it starts) used, per 1,000 customers. Baseline, in the
same run: a bare httpx client walking the same sandbox with three state chains, parsing every page and
storing nothing (the least any client can spend). Throughput and dlt 1.31 on the same sandbox are
reported beside it, no longer a target.
"""

import json
import subprocess
import time

from .common import API_KEY, PYTHON, ROOT, TMP, BenchDb, Figure, cpu_seconds, machine, sandbox
from .fig1_throttled import bare_walk

# Before the fetch helper and the raw SQL paths were removed (commit 2e2ead1, same machine, 2026-12-06):
# sync 7.7 s + fetch helper 4.2 s CPU for 200,000 customers = 59.5 ms per 1,000. Issue 17 allows +15 %.
BEFORE_MS_PER_1000 = 59.5
TARGET_MS_PER_1000 = BEFORE_MS_PER_1000 * 1.15


def run(sizes: dict) -> list[Figure]:
    n = sizes["engine"]
    sb = sandbox(n, rate_limit=0, latency_ms=0)
    try:
        cpu_before = time.process_time()
        bare = bare_walk(sb.api_base, rate=None)
        bare_ms = (time.process_time() - cpu_before) * 1_000_000 / n
        db = BenchDb("engine", sb, rate_limit=0)
        sandbox_cpu = cpu_seconds(sb.proc.pid)
        result = db.sync(full=True)
        sandbox_cpu = cpu_seconds(sb.proc.pid) - sandbox_cpu
        rate = n / result["run_seconds"]
        dlt = _dlt(sb)
        db.remove()
    finally:
        sb.stop()
    sync_cpu = result["cpu_seconds"] + result["children_cpu_seconds"]
    ms = sync_cpu * 1_000_000 / n
    cores = machine()["cores"]
    return [
        Figure(
            2,
            f"CPU per 1,000 customers, full sync of {n:,} customers, 3 lists, SQLite, unthrottled",
            ms,
            "ms CPU / 1,000",
            bare_ms,
            "bare client: fetch + parse, no database",
            ms / bare_ms if bare_ms else None,
            "x bare client",
            f"<= {TARGET_MS_PER_1000:.1f} ms (before: {BEFORE_MS_PER_1000} ms, +15 %)",
            ms <= TARGET_MS_PER_1000,
            {
                "customers": n,
                "sync": result,
                "bare_fetch": bare,
                "dlt": dlt,
                "throughput": rate,
                "vs_dlt": rate / (dlt["rows"] / dlt["seconds"]),
                "cpu": {"sync_s": sync_cpu, "sandbox_s": sandbox_cpu, "bare_s": bare_ms * n / 1_000_000},
                "summary": (
                    f"throughput {rate:,.0f} customers/s (bare client {bare['rate']:,.0f}/s;"
                    f" dlt {dlt['dlt']} rest_api -> duckdb {dlt['rows'] / dlt['seconds']:,.0f}/s,"
                    f" {rate / (dlt['rows'] / dlt['seconds']):.1f}x); CPU: sync {sync_cpu:.1f} s, sandbox"
                    f" {sandbox_cpu:.1f} s over {cores} cores; the sync took {result['run_seconds']:.1f} s"
                ),
            },
        )
    ]


def _dlt(sb) -> dict:
    proc = subprocess.run(
        [
            PYTHON,
            "-m",
            "bench.dlt_pull",
            "--api-base",
            sb.api_base,
            "--api-key",
            API_KEY,
            "--dir",
            str(TMP / "dlt"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH-JSON ")), None)
    if line is None:
        raise RuntimeError(f"dlt failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(line[len("BENCH-JSON ") :])
