"""Figure 5 — lookup API throughput and latency: gunicorn (2 workers, loopback), wrk on POST /api/v1/lookups
with random member and non-member emails, against a list padded to the target size; beside it, in the same
run and the same gunicorn config, the bare Django view of ``baselines/bare.py`` doing the same indexed
query (the issue's baseline), and ``baselines/bare_work.py``: the lookup's own queries and answer in a
plain view (what the lookup costs without middleware and django-ninja).
"""

import json
import statistics

from .common import TMP, BenchDb, Figure, djtool, sandbox
from .servers import gunicorn, wrk, wrk_script

TARGET_RATIO = 0.5  # through Django's whole middleware stack and ninja's answer validation (issue 17)
TARGET_P99_MS = 5.0
ROUNDS = 3  # alternating api / bare rounds of seconds / ROUNDS each
CONNECTIONS = 2  # one per gunicorn worker: p99 is service time, not queueing behind wrk


def prepare(name: str, customers: int, items: int) -> tuple[BenchDb, dict, dict, list[str], dict]:
    """A synced program of ``customers`` with its all-members list padded to ``items``: the bench
    database, the sync's result, the padding's, the request bodies (random member, non-member and
    unknown emails) and the environment for gunicorn (``BENCH_LIST_IDS`` for the bare apps)."""
    sb = sandbox(customers, rate_limit=0, latency_ms=0)
    try:
        db = BenchDb(name, sb, rate_limit=0)
        sync = db.sync(full=True)
    finally:
        sb.stop()
    picked = djtool(["emails", "--count", "2000"], db.env)
    padding = djtool(["pad", "--items", str(items)], db.env)
    emails = picked["members"] + picked["outsiders"] + [f"nobody{i}@bench.invalid" for i in range(500)]
    bodies = [json.dumps({"email": e}) for e in emails]
    env = dict(db.env, BENCH_LIST_IDS=",".join(str(i) for i in db.info["list_ids"]))
    return db, sync, padding, bodies, env


def run(sizes: dict) -> list[Figure]:
    seconds = sizes["lookup_seconds"]
    n = sizes["lookup"]
    db, sync, padding, bodies, env = prepare("lookup", n, sizes["lookup_items"])
    logs = db.dir
    api_script, bare_script = logs / "lookup_api.lua", logs / "lookup_bare.lua"
    wrk_script(api_script, bodies, db.info["api_key"])
    wrk_script(bare_script, bodies, None)
    servers = {}
    rounds: dict[str, list[dict]] = {"api": [], "bare": [], "work": []}
    try:
        apps = (
            ("api", None),
            ("bare", "bench.baselines.bare:application"),
            ("work", "bench.baselines.bare_work:application"),
        )
        for name, app in apps:
            servers[name] = gunicorn(env, logs / f"gunicorn-{name}.log", app)
        scripts = {"api": api_script, "bare": bare_script, "work": api_script}
        for name, (_, base) in servers.items():
            wrk(base, scripts[name], 1)  # warm-up: workers import, SQLite page cache
        # alternate short rounds so both see the same (shared, noisy) machine
        for _ in range(ROUNDS):
            for name, (server, base) in servers.items():
                result = wrk(base, scripts[name], max(1, seconds // ROUNDS), connections=CONNECTIONS)
                if not result["requests"] or result["non_2xx"]:
                    raise RuntimeError(f"{name}: wrk saw errors:\n{result['raw']}\n{server.tail()}")
                result.pop("raw")
                rounds[name].append(result)
    finally:
        for server, _ in servers.values():
            server.stop()
    results = {name: _combine(r) for name, r in rounds.items()}
    db.remove()
    api, bare, work = results["api"], results["bare"], results["work"]
    ratio = api["rps"] / bare["rps"] if bare["rps"] else None
    passed = ratio is not None and ratio >= TARGET_RATIO and (api["p99_ms"] or 1e9) <= TARGET_P99_MS
    return [
        Figure(
            5,
            f"Lookup API, {padding['items']:,}-item list, wrk {ROUNDS}x{max(1, seconds // ROUNDS)}s per app, "
            f"c={CONNECTIONS} "
            f"(p50 {api['p50_ms']:.2f} ms, p99 {api['p99_ms']:.2f} ms; bare p99 {bare['p99_ms']:.2f} ms)",
            api["rps"],
            "req/s",
            bare["rps"],
            "bare Django view, same gunicorn",
            ratio,
            "x bare",
            f">= {TARGET_RATIO}x bare and p99 <= {TARGET_P99_MS:g} ms",
            passed,
            {
                "customers": n,
                "list": padding,
                "emails": len(bodies),
                "api": api,
                "bare": bare,
                "bare_work": work,
                "vs_bare_work": api["rps"] / work["rps"] if work["rps"] else None,
                "summary": (
                    f"the lookup's own queries in a plain view (no middleware, no ninja): {work['rps']:,.0f}"
                    f" req/s, p99 {work['p99_ms']:.2f} ms;"
                    f" the API reaches {api['rps'] / work['rps']:.0%} of it"
                ),
                "sync": sync,
                "tmp": str(TMP),
            },
        )
    ]


def _combine(rounds: list[dict]) -> dict:
    """Requests/s over all rounds; p50 = median of the rounds' p50s, p99 = the worst round's p99."""
    return {
        "rps": statistics.mean(r["rps"] for r in rounds),
        "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
        "p99_ms": max(r["p99_ms"] for r in rounds),
        "requests": sum(r["requests"] for r in rounds),
        "rounds": rounds,
    }
