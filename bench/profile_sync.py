"""Profile one full sync with py-spy (needs `pip install py-spy`; not part of `make bench`).

    python -m bench.profile_sync --customers 200000 [--rate-limit 0 --latency-ms 0] [--settings MODULE]
Writes collapsed stacks to bench/tmp/prof/<name>.txt and prints the sync's JSON result.
"""

import argparse
import json
import subprocess
from pathlib import Path

from .common import PYTHON, ROOT, TMP, BenchDb, sandbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--rate-limit", type=int, default=0)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--settings", default=None)
    parser.add_argument("--name", default="sync")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    out = TMP / "prof"
    out.mkdir(parents=True, exist_ok=True)
    sb = sandbox(args.customers, rate_limit=args.rate_limit, latency_ms=args.latency_ms)
    try:
        db = BenchDb(f"prof-{args.name}", sb, rate_limit=args.rate_limit)
        env = dict(db.env)
        if args.settings:
            env["DJANGO_SETTINGS_MODULE"] = args.settings
        cmd = [PYTHON, "-m", "bench.djtool", "sync", "--full"]
        if not args.no_profile:
            cmd = [
                "py-spy",
                "record",
                "-r",
                "50",
                "--threads",
                "--format",
                "raw",
                "-o",
                str(out / f"{args.name}.txt"),
                "--",
                *cmd,
            ]
            cmd[0] = str(Path(PYTHON).parent / "py-spy")
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH-JSON ")), None)
        print(json.loads(line[11:]) if line else proc.stdout[-2000:] + proc.stderr[-3000:])
        db.remove()
    finally:
        sb.stop()


if __name__ == "__main__":
    main()
