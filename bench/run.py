"""Run the benchmarks: ``python -m bench.run [--smoke | --full] [--only N ...]``.

Each figure prints its value, the baseline measured in the same run and the ratio, PASS/MISS against the
issue's target, and appends one JSON line per figure (with cores, load average before/after, git commit) to
``bench/results/<date>.jsonl``. A missed target never fails the command; a figure that crashes does
(exit status 1), so ``make bench-smoke`` catches scripts that rot.
"""

import argparse
import sys
import time
import traceback

from . import common

FIGURES = {
    1: "fig1_throttled",
    2: "fig2_engine",
    3: "fig34_delta_memory",  # figures 3 and 4 come from the same full + delta syncs
    4: "fig34_delta_memory",
    5: "fig5_lookup",
    6: "fig6_webhooks",
    7: "fig7_list_page",
    8: "fig8_recycling",
    9: "fig9_outbound",
    10: "fig10_fleet",  # PostgreSQL + Redis: started by bin/with-services unless DATABASE_URL names them
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--smoke", action="store_true", help="tiny sizes: checks the scripts (under a minute)")
    size.add_argument("--full", action="store_true", help="1M customers everywhere (long)")
    parser.add_argument("--only", type=int, action="append", choices=sorted(FIGURES), help="figure number")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "full" if args.full else "default"
    sizes = common.SIZES[mode]
    wanted = args.only or sorted(FIGURES)
    modules = list(dict.fromkeys(FIGURES[n] for n in wanted))
    print(f"bench ({mode}) on {common.machine()} at commit {common.git_commit()}", flush=True)
    all_figures, failures = [], []
    for name in modules:
        load = common.loadavg()
        started = time.monotonic()
        print(f"- {name} (load {load}) ...", flush=True)
        try:
            module = __import__(f"bench.{name}", fromlist=["run"])
            figures = module.run(sizes)  # all of a module's figures (3 and 4 come from one run)
        except Exception:  # report and carry on with the other figures
            traceback.print_exc()
            failures.append(name)
            continue
        common.record(figures, mode=mode, load_before=load, seconds=time.monotonic() - started)
        all_figures += figures
    common.cleanup_run_dir()
    print_table(all_figures, mode)
    missing = sorted(set(wanted) - {f.number for f in all_figures})
    if missing and not failures:
        failures.append(f"figures {missing} produced no result")
    if failures:
        print(f"FAILED to run: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


def print_table(figures, mode: str) -> None:
    print(f"\n| # | figure ({mode}) | value | baseline (same run) | ratio | target | result |")
    print("|---|---|---|---|---|---|---|")
    for f in sorted(figures, key=lambda x: x.number):
        verdict = "PASS" if f.passed else ("MISS" if f.passed is False else "INFO")
        print(
            f"| {f.number} | {f.name} | {common.fmt(f.value)} {f.unit} | {common.fmt(f.baseline)} "
            f"({f.baseline_name}) | {common.fmt(f.ratio)} {f.ratio_name} | {f.target} | {verdict} |"
        )


if __name__ == "__main__":
    sys.exit(main())
