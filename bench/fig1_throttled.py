"""Figure 1 — full sync at Smile's real limit: sandbox at 10 req/s with 250 ms added latency.

Two full syncs of the same program: the first (nothing known yet: one cursor chain per state, so the
largest state bounds it) and the next one, the daily reconcile, which splits the walk into
``SYNC_FULL_WALK_CHAINS`` id ranges of equal size (known from the snapshot). The figure is the
reconcile; the first sync is reported beside it.

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


def run(sizes: dict) -> list[Figure]:
    n = sizes["throttled"]
    sb = sandbox(n, rate_limit=RATE, latency_ms=LATENCY_MS)
    try:
        bare_states = bare_walk(sb.api_base)
        time.sleep(1.1)
        bare = bare_walk(sb.api_base, ranges=id_ranges(sb, CHAINS))
        time.sleep(1.1)  # let the sandbox's sliding window empty
        db = BenchDb("throttled", sb, rate_limit=RATE)
        time.sleep(1.1)
        first = db.sync(full=True)
        time.sleep(1.1)
        result = db.sync(full=True)
        db.remove()
    finally:
        sb.stop()
    ours = n / result["run_seconds"]
    share = ours / CEILING
    first_rate = n / first["run_seconds"]
    return [
        Figure(
            1,
            f"Full sync (daily reconcile, {CHAINS} id-range chains) at 10 req/s + {LATENCY_MS} ms,"
            f" {n:,} customers, 3 lists",
            ours,
            "customers/s",
            bare["rate"],
            f"bare client, {CHAINS} id-range chains, no DB",
            share,
            "share of 2,500/s ceiling",
            f">= {TARGET_SHARE:.0%} of {CEILING:,}/s",
            share >= TARGET_SHARE,
            {
                "customers": n,
                "sync": result,
                "bare": bare,
                "bare_share": bare["rate"] / CEILING,
                "vs_bare": ours / bare["rate"],
                "ceiling": CEILING,
                "first_sync": first,
                "first_sync_rate": first_rate,
                "first_sync_share": first_rate / CEILING,
                "bare_states": bare_states,
                "bare_states_share": bare_states["rate"] / CEILING,
                "first_sync_vs_bare_states": first_rate / bare_states["rate"],
                "summary": (
                    f"first sync (3 state chains, split as they finish): {first_rate:,.0f}/s ="
                    f" {first_rate / CEILING:.0%} of the ceiling; bare client with 3 unsplit state chains"
                    f" {bare_states['rate']:,.0f}/s"
                    f" ({bare_states['rate'] / CEILING:.0%})"
                ),
            },
        )
    ]


def id_ranges(sb, parts: int) -> list[tuple[int, int]]:
    """Equal-count id ranges over every customer (from the sandbox's export; the engine would use the ids
    its snapshot already holds), highest first. The lowest range is open below, the highest above."""
    from .fig34_delta_memory import _customer_ids

    ids = sorted(_customer_ids(sb))
    cuts = [ids[len(ids) * k // parts] for k in range(1, parts)]
    lows = [0, *cuts]
    highs = [c - 1 for c in cuts] + [2**62]
    return list(zip(lows, highs, strict=True))[::-1]
