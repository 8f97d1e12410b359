"""The sandbox's own SQLite store (no Django ORM): generation, reuse, keyset reads and control writes.

Reads use a small pool of WAL-mode connections (one per request at a time); writes are serialised
by a lock. ``updated_ms`` of changed customers comes from ``tick()``, which is strictly increasing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from pathlib import Path

from . import data
from .render import TierIndex, now_ms, render_base, render_customer

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "5"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tiers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, milestone REAL NOT NULL,
    image_url TEXT NOT NULL, perks TEXT NOT NULL, entry_rewards TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, email TEXT, email_lc TEXT,
    state TEXT NOT NULL, points_balance INTEGER NOT NULL, vip_tier_id INTEGER, vip_tier_expires_at TEXT,
    progress_value REAL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    base BLOB NOT NULL, vip BLOB NOT NULL);
"""
INDEXES = """
CREATE INDEX IF NOT EXISTS ix_customers_state ON customers(state, id);
CREATE INDEX IF NOT EXISTS ix_customers_updated ON customers(updated_ms);
CREATE INDEX IF NOT EXISTS ix_customers_email ON customers(email_lc);
"""
INSERT = "INSERT OR REPLACE INTO customers VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
# With at most this many customers matching updated_at_min, walk the updated_ms index; otherwise
# walk ids and filter (a wide window matches most rows, so the id order is cheaper).
UPDATED_INDEX_MAX = 5000
RAW = (
    "id, email, state, points_balance, vip_tier_id, vip_tier_expires_at, progress_value, "
    "created_ms, updated_ms"
)


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self.write_lock = threading.RLock()
        self._last_tick = 0
        self.meta: dict[str, str] = {}
        self.index: TierIndex | None = None
        self.tiers: list[dict] = []

    # ---- lifecycle -------------------------------------------------------------------------
    def open(self, customers: int, seed: int, program: str, tiers: int) -> bool:
        """Open the file, regenerating it unless it matches the options. True when reused."""
        wanted = self._params(customers, seed, program, tiers)
        reused = False
        if self.path.exists():
            try:
                conn = sqlite3.connect(self.path)
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                conn.close()
                reused = all(meta.get(k) == v for k, v in wanted.items()) and meta.get("complete") == "1"
            except sqlite3.Error:
                reused = False
        if not reused:
            self._generate_file(customers, seed, program, tiers)
        self._load_meta()
        return reused

    @staticmethod
    def _params(customers: int, seed: int, program: str, tiers: int) -> dict[str, str]:
        return {
            "version": SCHEMA_VERSION,
            "customers": str(customers),
            "seed": str(seed),
            "program": program,
            "tiers": str(tiers),
        }

    def _generate_file(self, customers: int, seed: int, program: str, tiers: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".generating")
        for p in (tmp, Path(f"{tmp}-journal")):
            p.unlink(missing_ok=True)
        started = time.monotonic()
        conn = sqlite3.connect(tmp)
        conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
        conn.execute("BEGIN")
        self._fill(conn, customers, seed, program, tiers)
        conn.commit()
        conn.executescript(INDEXES + "ANALYZE;")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, self.path)
        logger.info("generated %s customers in %.1fs", customers, time.monotonic() - started)

    def _fill(self, conn: sqlite3.Connection, customers: int, seed: int, program: str, tiers: int) -> None:
        anchor = data.anchor_today()
        tier_rows = data.make_tiers(seed, tiers)
        conn.executemany(
            "INSERT INTO tiers VALUES (:id,:name,:milestone,:image_url,:perks,:entry_rewards)", tier_rows
        )
        last_id = data.FIRST_ID
        for chunk in data.generate_customers(customers, seed, program, tier_rows, anchor):
            conn.executemany(INSERT, chunk)
            last_id = chunk[-1][0]
        meta = self._params(customers, seed, program, tiers) | {
            "anchor_ms": str(anchor),
            "max_customer_id": str(last_id),
            "complete": "1",
        }
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())

    def regenerate(self, customers: int, seed: int, program: str, tiers: int) -> None:
        """Replace all data in place (used by POST /_sandbox/reset); readers see old or new, never half."""
        with self.write_lock, self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM customers")
            conn.execute("DELETE FROM tiers")
            conn.execute("DELETE FROM meta")
            self._fill(conn, customers, seed, program, tiers)
            conn.execute("COMMIT")
            conn.execute("ANALYZE")
        self._load_meta()

    def _load_meta(self) -> None:
        with self.connection() as conn:
            self.meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            self._last_tick = max(
                self._last_tick,
                conn.execute("SELECT coalesce(max(updated_ms), 0) FROM customers").fetchone()[0],
            )
        self._load_tiers()

    def _load_tiers(self, conn: sqlite3.Connection | None = None) -> None:
        if conn is None:
            with self.connection() as own:
                return self._load_tiers(own)
        cols = ("id", "name", "milestone", "image_url", "perks", "entry_rewards")
        rows = [
            dict(zip(cols, r, strict=True))
            for r in conn.execute(
                f"SELECT {', '.join(cols)} FROM tiers ORDER BY milestone, id"  # noqa: S608  # nosec B608 - constant column names
            )
        ]
        self.tiers = rows
        self.index = data.tier_index(rows, self.meta["program"], int(self.meta["anchor_ms"]))
        return None

    @contextlib.contextmanager
    def connection(self):
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            conn.executescript(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA cache_size=-65536; PRAGMA mmap_size=1073741824;"
            )
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._pool.put(conn)

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return

    # ---- reads -----------------------------------------------------------------------------
    def list_page(
        self,
        *,
        state: str | None,
        email_lc: str | None,
        updated_min: int | None,
        after_id: int | None,
        direction: str,
        limit: int,
    ) -> tuple[list[tuple], bool]:
        """Keyset page: (id, base, vip) rows in id-descending order,
        plus whether more rows exist beyond the page in the walking direction."""
        where, params, hint = [], [], ""
        with self.connection() as conn:
            if email_lc is not None:
                where.append("email_lc = ?")
                params.append(email_lc)
            if state is not None:
                where.append("state = ?" if email_lc is None else "+state = ?")
                params.append(state)
            if updated_min is not None:
                narrow = (
                    email_lc is None
                    and conn.execute(
                        "SELECT count(*) FROM (SELECT 1 FROM customers INDEXED BY ix_customers_updated "
                        "WHERE updated_ms >= ? LIMIT ?)",
                        (updated_min, UPDATED_INDEX_MAX + 1),
                    ).fetchone()[0]
                    <= UPDATED_INDEX_MAX
                )
                where.append("updated_ms >= ?" if narrow else "+updated_ms >= ?")
                params.append(updated_min)
                if narrow:  # few rows: walk the updated_ms index and sort them (the planner won't guess)
                    hint = " INDEXED BY ix_customers_updated"
            if after_id is not None:
                where.append("id < ?" if direction == "next" else "id > ?")
                params.append(after_id)
            sql = "SELECT id, base, vip FROM customers" + hint  # noqa: S608  # nosec B608 - constant fragments only
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += " ORDER BY id " + ("DESC" if direction == "next" else "ASC") + " LIMIT ?"
            rows = conn.execute(sql, (*params, limit + 1)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        if direction != "next":
            rows.reverse()
        return rows, more

    def exists_beyond(self, *, state, email_lc, updated_min, before_id: int) -> bool:
        rows, _ = self.list_page(
            state=state,
            email_lc=email_lc,
            updated_min=updated_min,
            after_id=before_id,
            direction="next",
            limit=1,
        )
        return bool(rows)

    def get_row(self, cid: int) -> tuple | None:
        with self.connection() as conn:
            return conn.execute(
                "SELECT id, base, vip, vip_tier_id FROM customers WHERE id = ?",
                (cid,),
            ).fetchone()

    def count(self) -> int:
        with self.connection() as conn:
            return conn.execute("SELECT count(*) FROM customers").fetchone()[0]

    def export_rows(self):
        """Yield raw customer dicts in id-descending order (streamed, constant memory)."""
        with self.connection() as conn:
            cur = conn.execute(f"SELECT {RAW}, base FROM customers ORDER BY id DESC")  # noqa: S608  # nosec B608 - constant
            cols = [*RAW.split(", "), "base"]
            for row in cur:
                yield dict(zip(cols, row, strict=True))

    def customer_json(self, cid: int, vip: bool = True) -> str | None:
        row = self.get_row(cid)
        if row is None:
            return None
        return render_customer(row[1].decode(), row[2].decode() if vip else None)

    # ---- writes ----------------------------------------------------------------------------
    def tick(self) -> int:
        """Now in ms, strictly greater than every previous tick (call with write_lock held)."""
        self._last_tick = max(now_ms(), self._last_tick + 1)
        return self._last_tick

    def write_customer(self, conn: sqlite3.Connection, c: dict, progress: float | None) -> None:
        conn.execute(
            INSERT,
            (
                c["id"],
                c["email"],
                None if c["email"] is None else c["email"].lower(),
                c["state"],
                c["points_balance"],
                c["vip_tier_id"],
                c["vip_tier_expires_at"],
                progress,
                c["created_at"],
                c["updated_at"],
                render_base(c).encode(),
                self.index.vip_status(c["vip_tier_id"], c["vip_tier_expires_at"], progress).encode(),
            ),
        )

    def load_customer(self, conn: sqlite3.Connection, cid: int) -> tuple[dict, float | None] | None:
        row = conn.execute(
            "SELECT base, vip_tier_expires_at, progress_value, created_ms, updated_ms "
            "FROM customers WHERE id = ?",
            (cid,),
        ).fetchone()
        if row is None:
            return None
        c = json.loads(row[0] + b"}")
        c.update(vip_tier_expires_at=row[1], created_at=row[3], updated_at=row[4])
        return c, row[2]

    def next_customer_id(self, conn: sqlite3.Connection) -> int:
        cid = int(self.meta.get("max_customer_id", data.FIRST_ID)) + 1
        cid = max(cid, conn.execute("SELECT coalesce(max(id), 0) + 1 FROM customers").fetchone()[0])
        self.meta["max_customer_id"] = str(cid)
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('max_customer_id', ?)", (str(cid),))
        return cid

    def delete_customer(self, cid: int) -> bool:
        with self.write_lock, self.connection() as conn:
            return conn.execute("DELETE FROM customers WHERE id = ?", (cid,)).rowcount > 0

    def save_tier(self, tier: dict) -> None:
        with self.write_lock, self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT OR REPLACE INTO tiers VALUES (:id,:name,:milestone,:image_url,:perks,:entry_rewards)",
                tier,
            )
            self._rerender_vip(conn)
            conn.execute("COMMIT")

    def _rerender_vip(self, conn: sqlite3.Connection, chunk: int = 50_000) -> None:
        """Tiers changed: reload the tier index and re-render every stored vip_status (next tier and
        deltas depend on the tiers). Call inside the write transaction."""
        self._load_tiers(conn)
        status, after = self.index.vip_status, -1
        while True:
            rows = conn.execute(
                "SELECT id, vip_tier_id, vip_tier_expires_at, progress_value FROM customers "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (after, chunk),
            ).fetchall()
            if not rows:
                return
            conn.executemany(
                "UPDATE customers SET vip = ? WHERE id = ?",
                [(status(t, e, p).encode(), i) for i, t, e, p in rows],
            )
            after = rows[-1][0]

    def delete_tier(self, tier_id: int) -> list[int] | None:
        """Remove a tier; its customers drop to no tier with updated_at bumped. Returns their ids."""
        with self.write_lock, self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            if conn.execute("DELETE FROM tiers WHERE id = ?", (tier_id,)).rowcount == 0:
                conn.execute("ROLLBACK")
                return None
            ids = [r[0] for r in conn.execute("SELECT id FROM customers WHERE vip_tier_id = ?", (tier_id,))]
            stamp = self.tick()
            for cid in ids:
                c, progress = self.load_customer(conn, cid)
                c.update(vip_tier_id=None, vip_tier_expires_at=None, updated_at=stamp)
                self.write_customer(conn, c, progress)
            self._rerender_vip(conn)
            conn.execute("COMMIT")
        return ids
