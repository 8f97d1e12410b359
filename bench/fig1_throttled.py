"""Figure 1 — full sync at Smile's real limit: sandbox at 10 req/s with 250 ms added latency.

For each size (20k and 100k customers by default) and each way a connection can walk, two full syncs of
the same program, as a merchant runs them: the first (the capability probe included; nothing known of
the ids yet: one chain per state, the largest split as the others finish when made-up cursors are
verified) and the daily reconcile (verified: ``SYNC_FULL_WALK_CHAINS`` id ranges of equal size, known
from the snapshot; documented: per state again). The figure is the slower of the two. The target
(>= 90 % of the ceiling) is for the verified id-range walk; the documented walk is measured.

Baselines in the same run: the theoretical ceiling (10 req/s x 250 customers per page = 2,500/s) and a
measured one: a bare httpx client walking the same throttled sandbox with the same chains (4 id
ranges; and, for the first sync, 3 states) under a local 10 req/s limiter, with no database work.
"""

import base64
import threading
import time

import httpx

from .common import API_KEY, BenchDb, Figure, sandbox

RATE = 10
PAGE = 250
LATENCY_MS = 250
CEILING = RATE * PAGE
TARGET_SHARE = 0.90
STATES = ("member", "candidate", "disabled")


class SlotLimiter:
    """At most RATE sends in any sliding second (slots of 1.02/RATE s; 2 % margin for jitter)."""

    def __init__(self, rate: float, margin: float = 0.02):
        self.width = (1 + margin) / rate
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.width
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def bare_walk(
    api_base: str, ranges: list[tuple[int, int]] | None = None, *, rate: float | None = RATE
) -> dict:
    """Walk every customer with 3 parallel chains: one per state, or (``ranges``) one per id range
    ``(low, high)`` started from a crafted cursor ``id:<high + 1>,direction:next`` and cut at ``low``;
    at most ``rate`` requests per second (None: unthrottled). Parses every page; no database."""
    limiter = SlotLimiter(rate) if rate else None
    keys = STATES if ranges is None else [f"ids<={hi}" for _, hi in ranges]
    bounds = dict(zip(keys, ranges or [None] * len(keys), strict=True))
    counts = dict.fromkeys(keys, 0)
    pages = dict.fromkeys(keys, 0)
    throttled = [0]
    client = httpx.Client(
        base_url=api_base,
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=60,
        limits=httpx.Limits(max_connections=10),
    )

    def chain(key: str) -> None:
        bound = bounds[key]
        cursor = (
            None if bound is None else base64.b64encode(f"id:{bound[1] + 1},direction:next".encode()).decode()
        )
        while True:
            params = {"limit": PAGE, "include": "vip_status"}
            if bound is None:
                params["state"] = key
            if cursor:
                params["cursor"] = cursor
            if limiter is not None:
                limiter.acquire()
            resp = client.get("/customers", params=params)
            if resp.status_code == 429:
                throttled[0] += 1
                time.sleep(1)
                continue
            resp.raise_for_status()
            body = resp.json()
            rows = body["customers"]
            pages[key] += 1
            cursor = body["metadata"]["next_cursor"]
            if bound is not None and rows and rows[-1]["id"] < bound[0]:
                counts[key] += sum(1 for c in rows if c["id"] >= bound[0])
                return
            counts[key] += len(rows)
            if not cursor:
                return

    started = time.monotonic()
    threads = [threading.Thread(target=chain, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    client.close()
    total = sum(counts.values())
    return {
        "customers": total,
        "seconds": seconds,
        "rate": total / seconds,
        "pages": pages,
        "per_state": counts,
        "429s": throttled[0],
    }


CHAINS = 4  # the engine's default SYNC_FULL_WALK_CHAINS
# How a connection walks (integrations/smile/capabilities.py): made-up id-range cursors where a probe
# verified them (the sandbox's default keyset cursors), else Smile's own cursors per state (the
# sandbox's opaque cursors, which refuse made-up ones: the probe finds them unsupported).
STRATEGIES = {"id-range (verified)": "keyset", "documented (per state)": "opaque-400"}


def run(sizes: dict) -> list[Figure]:
    figures = []
    for n in sizes["throttled"]:
        sb = sandbox(n, rate_limit=RATE, latency_ms=LATENCY_MS)
        try:
            bare_states = bare_walk(sb.api_base)
            time.sleep(1.1)
            bare_ranges = bare_walk(sb.api_base, ranges=id_ranges(sb, CHAINS))
            for strategy, cursor_mode in STRATEGIES.items():
                sb.settings(cursor_mode=cursor_mode)
                time.sleep(1.1)  # let the sandbox's sliding window empty
                db = BenchDb(f"throttled-{cursor_mode}", sb, rate_limit=RATE)
                time.sleep(1.1)
                first = db.sync(full=True)  # as a merchant's first sync runs: the capability probe included
                time.sleep(1.1)
                daily = db.sync(full=True)  # the daily reconcile
                db.remove()
                bare = bare_ranges if cursor_mode == "keyset" else bare_states
                figures.append(_figure(n, strategy, first, daily, bare, bare_states, bare_ranges))
        finally:
            sb.stop()
    return figures


def _figure(n, strategy, first, daily, bare, bare_states, bare_ranges) -> Figure:
    verified = strategy.startswith("id-range")
    first_rate, daily_rate = n / first["run_seconds"], n / daily["run_seconds"]
    worst = min(first_rate, daily_rate) / CEILING
    return Figure(
        1,
        f"Full sync at 10 req/s + {LATENCY_MS} ms, {n:,} customers, 3 lists, {strategy}: the slower of"
        " the first sync and the daily reconcile",
        min(first_rate, daily_rate),
        "customers/s",
        bare["rate"],
        "bare client, no DB: " + (f"{CHAINS} id-range chains" if verified else "3 state chains, unsplit"),
        worst,
        "share of 2,500/s ceiling",
        f">= {TARGET_SHARE:.0%} of {CEILING:,}/s" if verified else "measured (the documented way)",
        worst >= TARGET_SHARE if verified else None,
        {
            "customers": n,
            "strategy": strategy,
            "first_sync": first,
            "first_sync_rate": first_rate,
            "first_sync_share": first_rate / CEILING,
            "daily": daily,
            "daily_rate": daily_rate,
            "daily_share": daily_rate / CEILING,
            "ceiling": CEILING,
            "bare_states": bare_states,
            "bare_states_share": bare_states["rate"] / CEILING,
            "bare_ranges": bare_ranges,
            "bare_ranges_share": bare_ranges["rate"] / CEILING,
            "summary": (
                f"first sync {first_rate:,.0f}/s = {first_rate / CEILING:.0%}, daily reconcile"
                f" {daily_rate:,.0f}/s = {daily_rate / CEILING:.0%} of the ceiling; bare client: 3 state"
                f" chains {bare_states['rate']:,.0f}/s ({bare_states['rate'] / CEILING:.0%}),"
                f" {CHAINS} id ranges {bare_ranges['rate']:,.0f}/s ({bare_ranges['rate'] / CEILING:.0%})"
            ),
        },
    )


def id_ranges(sb, parts: int) -> list[tuple[int, int]]:
    """Equal-count id ranges over every customer (from the sandbox's export; the engine would use the ids
    its snapshot already holds), highest first. The lowest range is open below, the highest above."""
    from .fig34_delta_memory import _customer_ids

    ids = sorted(_customer_ids(sb))
    cuts = [ids[len(ids) * k // parts] for k in range(1, parts)]
    lows = [0, *cuts]
    highs = [c - 1 for c in cuts] + [2**62]
    return list(zip(lows, highs, strict=True))[::-1]
