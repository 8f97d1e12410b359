"""Figure 8 — lookups while gunicorn recycles its workers (``GUNICORN_MAX_REQUESTS``).

A replaced worker used to start cold: its first lookups waited for Django's lazy start-up (URL confs,
views, the API's schemas: ~1 s), seen as a p99 of 258 ms under recycling against ~10 ms without.
``gunicorn.conf.py`` now loads and warms the app in the master before forking (``GUNICORN_PRELOAD``).
Three runs on the same database, same wrk load: no recycling (the baseline), recycling every
``RECYCLE_EVERY`` requests with the preload off (the old behaviour), and with it on (today's default).
"""

from .common import Figure
from .fig5_lookup import prepare
from .servers import gunicorn, wrk, wrk_script

RECYCLE_EVERY = 500
TARGET_RATIO = 2.0  # p99 under recycling at most this many times the p99 without


def run(sizes: dict) -> list[Figure]:
    seconds = max(2, sizes["lookup_seconds"] // 2)
    db, _sync, padding, bodies, env = prepare("recycling", sizes["lookup"], sizes["lookup"])
    script = db.dir / "recycling.lua"
    wrk_script(script, bodies, db.info["api_key"])
    configs = {
        "steady": {"GUNICORN_MAX_REQUESTS": "0"},
        "recycled, cold workers": {"GUNICORN_MAX_REQUESTS": str(RECYCLE_EVERY), "GUNICORN_PRELOAD": "0"},
        "recycled, preloaded": {"GUNICORN_MAX_REQUESTS": str(RECYCLE_EVERY), "GUNICORN_PRELOAD": "1"},
    }
    results = {}
    for name, extra in configs.items():
        server, base = gunicorn(dict(env, **extra), db.dir / f"gunicorn-{name.split(',')[0]}.log")
        try:
            wrk(base, script, 1, connections=2)  # the first workers warm up either way
            result = wrk(base, script, seconds, connections=2)
            if not result["requests"] or result["non_2xx"]:
                raise RuntimeError(f"{name}: wrk saw errors:\n{result['raw']}\n{server.tail()}")
            result.pop("raw")
            results[name] = result
        finally:
            server.stop()
    db.remove()
    steady, cold, warm = (results[n] for n in configs)
    ratio = warm["p99_ms"] / steady["p99_ms"] if steady["p99_ms"] else None
    return [
        Figure(
            8,
            f"Lookups while gunicorn recycles a worker every {RECYCLE_EVERY} requests,"
            f" {padding['items']:,} items (p99: cold workers {cold['p99_ms']:.1f} ms,"
            f" preloaded {warm['p99_ms']:.1f} ms)",
            warm["p99_ms"],
            "ms p99",
            steady["p99_ms"],
            "no recycling, same run",
            ratio,
            "x steady p99",
            f"<= {TARGET_RATIO:g}x the steady p99",
            ratio is not None and ratio <= TARGET_RATIO,
            {"results": results, "recycle_every": RECYCLE_EVERY},
        )
    ]
