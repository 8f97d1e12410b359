"""Fleet benchmark: start-up, first use and memory of a sandbox serving many programs.

    .venv/bin/python -m integrations.smile.sandbox.bench_fleet --programs 10000 \\
        --size-distribution lognormal:median=120,sigma=1,max=200000

Starts a sandbox with a fresh temporary --db and prints: time to the ready line, RSS, the first page of
a median and of the largest program (each generated on that first use), then the time to generate
every program (one request each, two client threads), RSS and file size after, and a small program's
page latency once everything exists. Then restarts on the same file and prints the reuse start-up.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from integrations.smile.sandbox.process import SandboxProcess


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


_local = threading.local()


def first_page(base: str, n: int) -> float:
    """Seconds for GET /v1/customers?limit=250 as program n (one keep-alive client per thread)."""
    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = httpx.Client(base_url=base, timeout=600)
    t0 = time.perf_counter()
    resp = client.get(
        "/v1/customers", params={"limit": 250}, headers={"Authorization": f"Bearer api_fleet_{n}"}
    )
    resp.raise_for_status()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=10_000)
    parser.add_argument("--size-distribution", default="lognormal:median=120,sigma=1,max=200000")
    parser.add_argument("--customers", type=int, default=200, help="program 1's size")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    options = {
        "customers": args.customers,
        "seed": args.seed,
        "programs": args.programs,
        "size_distribution": args.size_distribution,
        "rate_limit": 0,
        "startup_timeout": 600,
    }
    with tempfile.TemporaryDirectory(prefix="sandbox-fleet-") as tmp:
        db = Path(tmp) / "fleet.sqlite3"
        started = time.perf_counter()
        with SandboxProcess(db=db, **options) as sandbox:
            print(f"ready in {time.perf_counter() - started:.2f}s, RSS {rss_mb(sandbox.proc.pid):.0f} MB")
            sizes = {p["id"]: p["customers"] for p in sandbox.programs()}
            total = sum(sizes.values())
            print(
                f"{len(sizes)} programs, {total:,} customers (median {statistics.median(sizes.values()):.0f})"
            )
            by_size = sorted(sizes, key=sizes.get)
            median, largest = by_size[len(by_size) // 2], by_size[-1]
            for label, n in (("median", median), ("largest", largest)):
                took = first_page(sandbox.base_url, n)
                print(f"first page of the {label} program ({sizes[n]:,} customers): {took:.3f}s")
            t0 = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda n: first_page(sandbox.base_url, n), sizes))
            elapsed = time.perf_counter() - t0
            print(
                f"every program generated in {elapsed:.1f}s ({total / elapsed:,.0f} customers/s), "
                f"RSS {rss_mb(sandbox.proc.pid):.0f} MB, file {db.stat().st_size / 1e6:.0f} MB"
            )
            small = [first_page(sandbox.base_url, by_size[0]) for _ in range(50)]
            print(f"a small program's page afterwards: median {statistics.median(small) * 1000:.1f} ms")
        started = time.perf_counter()
        with SandboxProcess(db=db, **options) as again:
            reused = again.health()["db_reused"]
            print(
                f"restart on the same file: ready in {time.perf_counter() - started:.2f}s (reused: {reused})"
            )


if __name__ == "__main__":
    main()
