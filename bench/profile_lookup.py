"""Profile the lookup API under load with py-spy (needs py-spy; not part of `make bench`).

    python -m bench.profile_lookup [--customers 200000 --items 1000000 --seconds 10]
    python -m bench.profile_lookup --app bench.baselines.bare:application     # the bare baseline instead
Builds figure 5's setup (a synced program, the all-members list padded to ``--items``), starts gunicorn
(the product's config: 2 workers), records both workers with `py-spy record` while wrk runs, then runs wrk
again unprofiled. Collapsed stacks go to bench/tmp/prof/lookup-<worker>.txt.
"""

import argparse
import subprocess
import time
from pathlib import Path

from .common import PYTHON, TMP
from .fig5_lookup import prepare
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
    db, _, _, bodies, env = prepare("prof-lookup", args.customers, args.items)
    script = db.dir / "lookup.lua"
    wrk_script(script, bodies, db.info["api_key"])
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
