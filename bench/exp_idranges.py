"""Experiment (figure 1, not part of `make bench`): the engine's full walk split into id-range chains.

Patches, in this process only, ``cycle.Chain`` / ``fetch._pages`` so that the full walk runs one
unfiltered chain per id range (started from a crafted cursor ``id:<high + 1>,direction:next`` and cut
at the range's low id) instead of one chain per state — the change proposed for
``loyalty_lists/lists/sync/cycle.py`` (``_Cycle._full_walk``) and ``fetch.py`` (``Chain``, ``_pages``).

    python -m bench.exp_idranges --customers 100000 --chains 4
"""

import argparse
import base64
import dataclasses
import json
import os
import subprocess

from .common import PYTHON, ROOT, BenchDb, sandbox
from .fig1_throttled import CEILING, LATENCY_MS, RATE, id_ranges


def patched_sync(ranges: list[tuple[int, int]]) -> dict:
    import django

    django.setup()
    from loyalty_lists.lists.sync import cycle, fetch

    from . import djtool

    keys = [f"r{i}" for i in range(len(ranges))]
    cycle.FULL_WALK_STATES = tuple(keys)
    bounds = dict(zip(keys, ranges, strict=True))
    real_chain = fetch.Chain

    def chain(key, state=None, updated_at_min=None, start_cursor=None):
        if key in bounds and start_cursor is None and bounds[key][1] < 2**62:
            start_cursor = base64.b64encode(f"id:{bounds[key][1] + 1},direction:next".encode()).decode()
        return real_chain(key, None if key in bounds else state, updated_at_min, start_cursor)

    cycle.Chain = chain
    real_pages = fetch._pages

    def pages(client, ch):
        low = bounds.get(ch.key, (None,))[0]
        for page in real_pages(client, ch):
            if low is not None and page.customers and page.customers[-1].id < low:
                kept = [c for c in page.customers if c.id >= low]
                yield dataclasses.replace(page, customers=kept, next_cursor=None)
                return
            yield page

    fetch._pages = pages
    return djtool.sync(full=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--child", default=None)
    args = parser.parse_args()
    if args.child:
        out = patched_sync([tuple(r) for r in json.loads(args.child)])
        print("BENCH-JSON " + json.dumps(out, default=str), flush=True)
        return
    sb = sandbox(args.customers, rate_limit=RATE, latency_ms=LATENCY_MS)
    try:
        ranges = id_ranges(sb, args.chains)
        db = BenchDb("idranges", sb, rate_limit=RATE)
        proc = subprocess.run(
            [PYTHON, "-m", "bench.exp_idranges", "--child", json.dumps(ranges)],
            cwd=ROOT,
            env=dict(db.env),
            capture_output=True,
            text=True,
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH-JSON ")), None)
        if line is None:
            raise SystemExit(proc.stdout[-2000:] + proc.stderr[-4000:])
        result = json.loads(line[11:])
        rate = result["customers_fetched"] / result["run_seconds"]
        print(
            json.dumps(
                {
                    "customers": args.customers,
                    "chains": args.chains,
                    "run_seconds": result["run_seconds"],
                    "fetched": result["customers_fetched"],
                    "rate": rate,
                    "share": rate / CEILING,
                    "status": result["status"],
                    "items_added": result["items_added"],
                    "phases": result["phases_s"],
                    "load": os.getloadavg(),
                }
            )
        )
        db.remove()
    finally:
        sb.stop()


if __name__ == "__main__":
    main()
