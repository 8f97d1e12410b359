"""Background changes (``--change-rate 0.005/15m``): shoppers earn and spend points, join, leave tiers.

Every TICK seconds each generated program accrues ``fraction * customers * TICK / period`` changes
(from a random starting phase, so programs do not all change on the same tick) and applies the whole
ones: that many customers picked at random change one thing, with ``updated_at`` bumped, all in one
write transaction per tick; then a customer/updated webhook is queued for each when a webhook URL is
set. A program that was never used is not generated, so it does not change either (nobody could tell).
The rate is read on every tick, so ``PATCH /_sandbox/settings {"change_rate": ...}`` applies at once.
"""

from __future__ import annotations

import logging
import random
import threading

from . import writes
from .config import parse_change_rate
from .fleet import Program
from .mutations import default_expiry

logger = logging.getLogger(__name__)
TICK = 1.0


class Changes:
    def __init__(self, app):
        self.app = app
        self.rng = random.Random(f"smile-sandbox-changes:{app.cfg.seed}")
        self.owed: dict[int, float] = {}  # program -> changes accrued but not yet applied
        self.applied = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smile-sandbox-changes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                self.tick(TICK)
            except Exception:  # never let the thread die
                logger.exception("background changes failed")

    def tick(self, seconds: float) -> int:
        """Apply the changes owed after ``seconds`` more; returns how many were made."""
        if not self.app.cfg.change_rate:
            return 0
        fraction, period = parse_change_rate(self.app.cfg.change_rate)
        picked: list[tuple[Program, int]] = []
        for prog in self.app.fleet.ready():
            owed = self.owed.get(prog.n)
            if owed is None:
                owed = self.rng.random()
            owed += fraction * prog.customers * seconds / period
            whole = int(owed)
            self.owed[prog.n] = owed - whole
            picked += [(prog, cid) for cid in self._pick(prog, whole)]
        if not picked:
            return 0
        store = self.app.store
        with store.write_lock, store.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            for prog, cid in picked:
                loaded = writes.load_customer(conn, prog, cid)
                if loaded is not None:
                    customer, progress = loaded
                    self._change(prog, customer)
                    customer["updated_at"] = store.tick()
                    writes.write_customer(store, conn, prog, customer, progress)
            conn.execute("COMMIT")
        for prog, cid in picked:
            self.app.notify(prog, [cid])
        self.applied += len(picked)
        return len(picked)

    def _pick(self, prog: Program, count: int) -> list[int]:
        """Up to ``count`` distinct customers of prog chosen at random (by id)."""
        top = prog.max_customer_id
        if count <= 0 or top <= prog.id_lo:
            return []
        found: set[int] = set()
        for _ in range(count * 2):
            cid = self.app.store.first_id_from(prog, self.rng.randint(prog.id_lo, top))
            if cid is not None:
                found.add(cid)
            if len(found) >= count:
                break
        return sorted(found)

    def _change(self, prog: Program, c: dict) -> None:
        """One realistic change: mostly points, sometimes the state or the VIP tier."""
        x = self.rng.random()
        if x < 0.15:
            c["state"] = {"candidate": "member", "member": "disabled", "disabled": "member"}[c["state"]]
        elif x < 0.30 and prog.index.tiers:
            index, current = prog.index, c["vip_tier_id"]
            if current not in index.by_id:
                target = index.tiers[0]
            else:
                target = index.next_tier(current) if self.rng.random() < 0.5 else None
            c["vip_tier_id"] = None if target is None else target.id
            c["vip_tier_expires_at"] = default_expiry(prog, c["vip_tier_id"])
        else:
            c["points_balance"] = max(0, int(c["points_balance"]) + self.rng.randint(-100, 300))
