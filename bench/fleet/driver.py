"""The fleet benchmark's driver: run under ``bin/with-services`` (PostgreSQL + Redis), prints one
``BENCH-JSON`` line. ``bench/fig10_fleet.py`` runs it and turns the line into figures.

    bin/with-services .venv/bin/python -m bench.fleet.driver --merchants 10000 --clusters 2

Phases (each measured with the CPU of every process group: the clusters' workers, PostgreSQL, Redis,
and apart the sandbox): the first syncs of the whole fleet; a no-change round and its per-merchant cost
beside the floor; delta rounds with changes (Smile changing 0.5 % of every program per 15 minutes,
compressed: the sandbox's change rate is scaled so a round sees 15 minutes of changes); the largest
merchant's full walk with a delta round beside it; one day of full reconciles at their slots, compressed;
webhook ingest; database size and the workers' memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time

FULL_QUEUE = "full"


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merchants", type=int, default=10_000)
    parser.add_argument("--largest", type=int, default=200_000, help="customers of program 1 (the largest)")
    parser.add_argument("--distribution", default="lognormal:median=120,sigma=1,max=200000")
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument("--clusters", type=int, default=2, help="clusters of the default queue (deltas)")
    parser.add_argument("--full-clusters", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4, help="workers per cluster")
    parser.add_argument("--rounds", type=int, default=2, help="delta rounds with changes")
    parser.add_argument("--compress", type=float, default=15.0, help="Smile's changes: this many x faster")
    parser.add_argument("--day-minutes", type=float, default=20.0, help="a day of slots in this many minutes")
    parser.add_argument("--webhook-rate", type=float, default=300.0)
    parser.add_argument("--webhook-seconds", type=float, default=20.0)
    parser.add_argument("--sample", type=int, default=30, help="merchants in the per-merchant cost samples")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--stop-after", choices=["rounds", "walk"], help="experiments: end the run there")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = _parse(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    os.environ["SYNC_FULL_QUEUE"] = FULL_QUEUE
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    from ..common import TMP

    log_dir = TMP / f"fleet-run-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    from . import setup

    started = time.monotonic()
    sb = setup.sandbox(
        merchants=args.merchants,
        largest=args.largest,
        distribution=args.distribution,
        latency_ms=args.latency_ms,
    )
    clusters, server = [], None
    try:
        programs = setup.programs_ready(sb, args.merchants)
        out = {"args": vars(args), "sandbox_ready_s": round(time.monotonic() - started, 1)}
        out["customers"] = sum(p["customers"] for p in programs.values())
        os.environ["SMILE_API_BASE"] = sb.api_base
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        out["migrated_s"] = round(time.monotonic() - started, 1)
        merchant_of = setup.seed(programs)
        env = dict(os.environ, Q_WORKERS=str(args.workers), PYTHONUNBUFFERED="1")
        setup.clusters_start(
            clusters, env, log_dir, default=args.clusters, full=args.full_clusters, full_queue=FULL_QUEUE
        )
        out["clusters_ready_s"] = round(time.monotonic() - started, 1)
        out.update(_phases(args, sb, clusters, merchant_of, env, log_dir))
        server = out.pop("_server", None)
        out["seconds"] = round(time.monotonic() - started, 1)
        shutil.rmtree(log_dir, ignore_errors=True)  # kept when the run fails
        return out
    finally:
        if server is not None:
            server.stop()
        setup.clusters_stop(clusters)
        sb.stop()


def _groups(clusters, sb, server=None) -> dict[str, list[int]]:
    from django.db import connection
    from django_q.brokers import get_broker

    from .procs import parent

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        postmaster = parent(cursor.fetchone()[0])
    redis_pid = get_broker().connection.info("server")["process_id"]
    groups = {"workers": [c.proc.pid for c in clusters], "postgres": [postmaster], "redis": [redis_pid]}
    if server is not None:
        groups["web"] = [server.proc.pid]
    groups["sandbox"] = [sb.proc.pid]
    return groups


def _phases(args, sb, clusters, merchant_of, env, log_dir) -> dict:
    from . import costs, rounds, webhooks
    from .procs import Meter, rss_mb, tree

    out: dict = {"phase_s": {}}
    clock = [time.monotonic()]

    def phase(name: str) -> None:
        now = time.monotonic()
        out["phase_s"][name] = round(now - clock[0], 1)
        clock[0] = now

    groups = _groups(clusters, sb)
    meter = Meter(groups)
    out["rss_start_mb"] = _rss(clusters)
    largest = merchant_of[1]
    small = [m for n, m in merchant_of.items() if n != 1]

    # 1. the first syncs of the whole fleet: full walks, sent to the default queue too for once, so that
    #    every worker takes part (in production they go to the full-walk queue)
    from django.test import override_settings

    with override_settings(SYNC_FULL_QUEUE=""):
        first = rounds.delta_round(meter, sb, timeout=args.timeout)
    out["first_syncs"] = {"wall_s": first.wall, "cpu_s": first.cpu, "statuses": first.statuses}
    phase("first_syncs")

    # 2. no change in Smile: a round, then the per-merchant cost beside the floor
    sb.settings(change_rate=None)
    time.sleep(1)
    idle = rounds.delta_round(meter, sb, timeout=args.timeout)
    sample = random.Random(5).sample(small, min(args.sample, len(small)))
    postmaster = groups["postgres"][0]
    out["no_change"] = {
        "round_wall_s": idle.wall,
        "round_cpu_s": idle.cpu,
        "round_smile_requests": idle.requests,
        "statuses": idle.statuses,
        "delta": costs.no_change_sample(sample, postmaster),
        "floor": costs.floor_sample(sample, postmaster, sb.api_base),
    }
    phase("no_change")

    # 3. delta rounds while Smile changes 0.5 % of every program per 15 minutes (compressed)
    period = max(1, round(900 / args.compress))
    sb.settings(change_rate=f"0.005/{period}s")
    changed, previous = [], idle
    for _ in range(args.rounds):
        time.sleep(max(0.0, period - previous.wall))  # a round sees ~15 minutes of changes
        current = rounds.delta_round(meter, sb, timeout=args.timeout)
        changed.append(
            {
                "wall_s": current.wall,
                "cpu_s": current.cpu,
                "statuses": current.statuses,
                "smile_requests": current.requests,
                **rounds.lag_summary(rounds.lags(previous, current)),
            }
        )
        previous = current
    out["rounds"] = changed
    phase("rounds")

    if args.stop_after == "rounds":
        return out
    # 4. the largest merchant's full walk, a delta round beside it
    time.sleep(max(0.0, period - previous.wall))
    during, walk = rounds.walk_round(meter, sb, largest, timeout=args.timeout)
    small_lags = rounds.lags(previous, during)
    out["walk"] = {
        **walk,
        "small_round_wall_s": round(max(during.ended.values()), 1),  # the largest's own delta waits
        **rounds.lag_summary(small_lags),
    }
    out["walk"]["baseline_max_s"] = changed[-1]["max_s"] if changed else None
    phase("walk")

    # 5. one day of full reconciles at their slots, compressed
    sb.settings(change_rate=None)
    if args.stop_after == "walk":
        return out
    out["day"] = rounds.day_of_fulls(
        meter, merchants=len(merchant_of), day_minutes=args.day_minutes, timeout=args.timeout
    )
    phase("day")

    # 6. webhook ingest through gunicorn
    from ..servers import gunicorn

    server, base = gunicorn(dict(env, WEB_CONCURRENCY_BENCH="2"), log_dir / "gunicorn.log")
    out["_server"] = server
    meter = Meter(_groups(clusters, sb, server))
    phase("gunicorn")
    out["webhooks"] = webhooks.ingest(sb, base, meter, rate=args.webhook_rate, seconds=args.webhook_seconds)
    phase("webhooks")

    # 7. sizes
    out["rss_end_mb"] = _rss(clusters)
    out["database"] = _sizes()
    out["processes"] = {name: len([p for pid in pids for p in tree(pid)]) for name, pids in groups.items()}
    out["sandbox_rss_mb"] = round(rss_mb(sb.proc.pid), 1)
    return out


def _rss(clusters) -> dict:
    """RSS of every process of the clusters (the workers dominate: 1 main + 1 sentinel + pusher +
    monitor + the workers per cluster)."""
    from .procs import rss_mb, tree

    values = sorted(rss_mb(p) for c in clusters for p in tree(c.proc.pid))
    return {
        "processes": len(values),
        "median": round(values[len(values) // 2], 1),
        "max": round(values[-1], 1),
        "total": round(sum(values), 1),
    }


def _sizes() -> dict:
    from django.db import connection

    from loyalty_lists.lists.models import ListItem, ListRunResult, SmileCustomer, SyncRun

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        database = cursor.fetchone()[0]
        sizes = {}
        for model in (SmileCustomer, ListItem, SyncRun, ListRunResult):
            cursor.execute("SELECT pg_total_relation_size(%s)", [model._meta.db_table])
            sizes[model._meta.db_table] = cursor.fetchone()[0]
    customers = SmileCustomer.objects.count()
    per_million = 1_000_000 / max(customers, 1)
    return {
        "customers": customers,
        "items": ListItem.objects.count(),
        "database_mb": round(database / 2**20, 1),
        "database_mb_per_1m_customers": round(database / 2**20 * per_million, 1),
        "snapshot_mb_per_1m_customers": round(sizes["lists_smilecustomer"] / 2**20 * per_million, 1),
        "items_mb_per_1m_customers": round(sizes["lists_listitem"] / 2**20 * per_million, 1),
        # the run history: every cycle adds a run and a result per list (nothing prunes them)
        "runs": SyncRun.objects.count(),
        "run_bytes": round(sizes["lists_syncrun"] / max(SyncRun.objects.count(), 1)),
        "results": ListRunResult.objects.count(),
        "result_bytes": round(sizes["lists_listrunresult"] / max(ListRunResult.objects.count(), 1)),
    }


if __name__ == "__main__":
    result = main()
    print("BENCH-JSON " + json.dumps(result, default=str), flush=True)
