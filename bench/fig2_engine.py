"""Figure 2 — engine ceiling: unthrottled sandbox, no latency, SQLite; beside it dlt on the same sandbox.

A third number bounds what any client can reach here: a bare httpx client walking the same sandbox
with the same three state chains, parsing every page and storing nothing (the sandbox and the client
share this machine's cores, as the engine and the sandbox do).
"""

import json
import subprocess

from .common import API_KEY, PYTHON, ROOT, TMP, BenchDb, Figure, cpu_seconds, machine, sandbox
from .fig1_throttled import bare_walk

TARGET_RATE = 20_000
TARGET_VS_DLT = 3.0


def run(sizes: dict) -> list[Figure]:
    n = sizes["engine"]
    sb = sandbox(n, rate_limit=0, latency_ms=0)
    try:
        bare = bare_walk(sb.api_base, rate=None)
        db = BenchDb("engine", sb, rate_limit=0)
        sandbox_cpu = cpu_seconds(sb.proc.pid)
        result = db.sync(full=True)
        sandbox_cpu = cpu_seconds(sb.proc.pid) - sandbox_cpu
        ours = n / result["run_seconds"]
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
        dlt = json.loads(line[len("BENCH-JSON ") :])
        dlt_rate = dlt["rows"] / dlt["seconds"]
        db.remove()
    finally:
        sb.stop()
    ratio = ours / dlt_rate
    # The sync and the sandbox share this machine's cores: the CPU time they used, spread over every
    # core, is the least wall time any schedule could have given that run.
    cores = machine()["cores"]
    cpu = {
        "sync_s": result["cpu_seconds"],
        "helper_s": result["helper_cpu_seconds"],
        "sandbox_s": sandbox_cpu,
    }
    cpu["floor_s"] = (cpu["sync_s"] + cpu["helper_s"] + cpu["sandbox_s"]) / cores
    return [
        Figure(
            2,
            f"Engine ceiling, full sync of {n:,} customers, 3 lists, SQLite",
            ours,
            "customers/s",
            dlt_rate,
            f"dlt {dlt['dlt']} rest_api -> duckdb",
            ratio,
            "x dlt",
            f">= {TARGET_RATE:,}/s and >= {TARGET_VS_DLT:g}x dlt",
            ours >= TARGET_RATE and ratio >= TARGET_VS_DLT,
            {
                "customers": n,
                "sync": result,
                "dlt": dlt,
                "bare_fetch": bare,
                "vs_bare_fetch": ours / bare["rate"],
                "cpu": cpu,
                "summary": (
                    f"bare client (3 state chains, parse only, no database) on the same sandbox:"
                    f" {bare['rate']:,.0f}/s; the engine reaches {ours / bare['rate']:.0%} of it."
                    f" CPU during the sync: sync {cpu['sync_s']:.1f} s + its fetch helper"
                    f" {cpu['helper_s']:.1f} s + sandbox {cpu['sandbox_s']:.1f} s"
                    f" over {cores} cores = at least {cpu['floor_s']:.1f} s of wall time;"
                    f" the sync took {result['run_seconds']:.1f} s"
                ),
            },
        )
    ]
