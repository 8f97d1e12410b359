"""Profile the lookup API under load with py-spy (needs py-spy; not part of `make bench`).

    python -m bench.profile_lookup [--customers 200000 --items 1000000 --seconds 10]
    python -m bench.profile_lookup --app bench.bare:application     # the bare baseline instead
Builds figure 5's setup (a synced program, the all-members list padded to ``--items``), starts gunicorn
(the product's config: 2 workers), records both workers with `py-spy record` while wrk runs, then runs wrk
again unprofiled. Collapsed stacks go to bench/tmp/prof/lookup-<worker>.txt.
"""

import argparse
import json
import subprocess
import time
from pathlib import Path

from .common import PYTHON, TMP, BenchDb, djtool, sandbox
from .servers import gunicorn, wrk, wrk_script


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--app", default=None, help="a WSGI app other than the product's")
    args = parser.parse_args()
    out = TMP / "prof"
    out.mkdir(parents=True, exist_ok=True)
    sb = sandbox(args.customers, rate_limit=0, latency_ms=0)
    try:
        db = BenchDb("prof-lookup", sb, rate_limit=0)
        db.sync(full=True)
    finally:
        sb.stop()
    picked = djtool(["emails", "--count", "2000"], db.env)
    djtool(["pad", "--items", str(args.items)], db.env)
    emails = picked["members"] + picked["outsiders"] + [f"nobody{i}@bench.invalid" for i in range(500)]
    script = db.dir / "lookup.lua"
    wrk_script(script, [json.dumps({"email": e}) for e in emails], db.info["api_key"])
    env = dict(db.env, BENCH_LIST_IDS=",".join(str(i) for i in db.info["list_ids"]))
    server, base = gunicorn(env, db.dir / "gunicorn.log", args.app)
    try:
        wrk(base, script, 2, connections=2)  # warm-up
        workers = subprocess.run(
            ["pgrep", "-P", str(server.proc.pid)], capture_output=True, text=True, check=True
        ).stdout.split()
        spy = str(Path(PYTHON).parent / "py-spy")
        profilers = [
            subprocess.Popen(  # noqa: S603
                [spy, "record", "-r", "200", "-d", str(args.seconds + 2), "--format", "raw"]
                + ["-o", str(out / f"lookup-{pid}.txt"), "--pid", pid],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid in workers
        ]
        time.sleep(1)
        profiled = wrk(base, script, args.seconds, connections=2)
        for profiler in profilers:
            profiler.wait()
        plain = wrk(base, script, args.seconds, connections=2)
    finally:
        server.stop()
    db.remove()
    for name, result in (("profiled", profiled), ("unprofiled", plain)):
        print(name, {k: result[k] for k in ("rps", "p50_ms", "p99_ms", "requests")})
    print("stacks:", ", ".join(str(out / f"lookup-{pid}.txt") for pid in workers))


if __name__ == "__main__":
    main()
