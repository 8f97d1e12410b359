"""The sandbox's own SQLite store (no Django ORM): generation, reuse, keyset reads and control writes.

One file holds every program (Smile account): customers carry their program's number and live in its
id range (``fleet.Program.id_lo``..``id_hi``), so a plain walk is a rowid range scan and the secondary
indexes start with the program. Reads use a small pool of WAL-mode connections (one per request at a
time); writes are serialised by a lock. ``updated_ms`` of changed customers comes from ``tick()``, which
is strictly increasing. Program 1 is generated at start-up (bulk, indexes built after), programs 2..N
on first use in batches that other writers interleave with (``materialize``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import secrets
import sqlite3
import threading
import time
from pathlib import Path

from . import data
from .fleet import Program
from .render import now_ms

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "6"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS programs (n INTEGER PRIMARY KEY, customers INTEGER NOT NULL,
    seed INTEGER NOT NULL, kind TEXT NOT NULL, tiers INTEGER NOT NULL, anchor_ms INTEGER NOT NULL,
    max_customer_id INTEGER NOT NULL, max_tier_id INTEGER NOT NULL, complete INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tiers (program INTEGER NOT NULL, id INTEGER NOT NULL, name TEXT NOT NULL,
    milestone REAL NOT NULL, image_url TEXT NOT NULL, perks TEXT NOT NULL, entry_rewards TEXT NOT NULL,
    PRIMARY KEY (program, id));
CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, email TEXT, email_lc TEXT,
    state TEXT NOT NULL, points_balance INTEGER NOT NULL, vip_tier_id INTEGER, vip_tier_expires_at TEXT,
    progress_value REAL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    base BLOB NOT NULL, vip BLOB NOT NULL, program INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS corrupt (id INTEGER NOT NULL, field TEXT NOT NULL, program INTEGER NOT NULL,
    value TEXT, PRIMARY KEY (id, field));
"""
INDEXES = """
CREATE INDEX IF NOT EXISTS ix_customers_state ON customers(program, state, id);
CREATE INDEX IF NOT EXISTS ix_customers_updated ON customers(program, updated_ms);
CREATE INDEX IF NOT EXISTS ix_customers_email ON customers(program, email_lc);
"""
INSERT = "INSERT OR REPLACE INTO customers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
INSERT_TIER = (
    "INSERT OR REPLACE INTO tiers VALUES (:program,:id,:name,:milestone,:image_url,:perks,:entry_rewards)"
)
# With at most this many customers matching updated_at_min, walk the updated_ms index; otherwise
# walk ids and filter (a wide window matches most rows, so the id order is cheaper).
UPDATED_INDEX_MAX = 5000
LAZY_BATCH = 5000  # rows per write transaction while generating a program on first use
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

    # ---- lifecycle -------------------------------------------------------------------------
    def open(self, first: Program, fleet_key: str) -> bool:
        """Open the file, regenerating it unless program 1 and the fleet match. True when reused."""
        reused = False
        if self.path.exists():
            try:
                conn = sqlite3.connect(self.path)
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                row = conn.execute(
                    "SELECT customers, seed, kind, tiers FROM programs WHERE n = 1 AND complete = 1"
                ).fetchone()
                conn.close()
                reused = (
                    meta.get("version") == SCHEMA_VERSION
                    and meta.get("fleet") == fleet_key
                    and row == (first.customers, first.seed, first.kind, first.tiers_count)
                )
            except sqlite3.Error:
                reused = False
        if not reused:
            self._generate_file(first, fleet_key)
        with self.write_lock, self.connection() as conn:
            self.meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            self._last_tick = max(
                self._last_tick,
                conn.execute("SELECT coalesce(max(updated_ms), 0) FROM customers").fetchone()[0],
            )
            for (n,) in conn.execute("SELECT n FROM programs WHERE complete = 0").fetchall():
                self._drop_program(conn, n)  # a generation cut short by a stop: redo it on first use
        return reused

    def _generate_file(self, first: Program, fleet_key: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".generating")
        for p in (tmp, Path(f"{tmp}-journal")):
            p.unlink(missing_ok=True)
        started = time.monotonic()
        conn = sqlite3.connect(tmp)
        conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
        conn.execute("BEGIN")
        self._fill(conn, first)
        meta = {"version": SCHEMA_VERSION, "fleet": fleet_key, "cursor_secret": secrets.token_hex(32)}
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta.items())
        conn.commit()
        conn.executescript(INDEXES + "ANALYZE;")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, self.path)
        logger.info("generated %s customers in %.1fs", first.customers, time.monotonic() - started)

    def _fill(self, conn: sqlite3.Connection, prog: Program) -> None:
        """Generate prog's tiers and customers inside the caller's transaction (start-up, reset)."""
        tier_rows, anchor = self._start_program(conn, prog)
        last_id = prog.id_lo
        for chunk in data.generate_customers(
            prog.customers, prog.seed, prog.kind, tier_rows, anchor, id_base=prog.id_lo, owner=prog.n
        ):
            conn.executemany(INSERT, chunk)
            last_id = chunk[-1][0]
        self._finish_program(conn, prog, last_id)

    @staticmethod
    def _start_program(conn: sqlite3.Connection, prog: Program) -> tuple[list[dict], int]:
        anchor = data.anchor_today()
        tier_rows = data.make_tiers(prog.seed, prog.tiers_count, prog.tier_base)
        row = (prog.n, prog.customers, prog.seed, prog.kind, prog.tiers_count, anchor, prog.id_lo, 0, 0)
        conn.execute("INSERT OR REPLACE INTO programs VALUES (?,?,?,?,?,?,?,?,?)", row)
        conn.executemany(INSERT_TIER, [t | {"program": prog.n} for t in tier_rows])
        return tier_rows, anchor

    @staticmethod
    def _finish_program(conn: sqlite3.Connection, prog: Program, last_id: int) -> None:
        conn.execute("UPDATE programs SET max_customer_id = ?, complete = 1 WHERE n = ?", (last_id, prog.n))

    def materialize(self, prog: Program) -> None:
        """Load prog from the file, generating it first if the file does not have it yet. Rows are
        generated outside the write lock and written LAZY_BATCH at a time, so other programs' writes
        interleave; the program is marked complete last (an interrupted one is redone)."""
        with self.connection() as conn:
            done = conn.execute("SELECT complete FROM programs WHERE n = ?", (prog.n,)).fetchone()
        if done != (1,):
            started = time.monotonic()
            with self.write_lock, self.connection() as conn:
                conn.execute("BEGIN IMMEDIATE")
                self._drop_program(conn, prog.n)
                tier_rows, anchor = self._start_program(conn, prog)
                conn.execute("COMMIT")
            last_id = prog.id_lo
            chunks = data.generate_customers(
                prog.customers,
                prog.seed,
                prog.kind,
                tier_rows,
                anchor,
                parallel_min=1 << 62,  # never fork from the threaded server
                id_base=prog.id_lo,
                owner=prog.n,
            )
            for chunk in chunks:
                for at in range(0, len(chunk), LAZY_BATCH):
                    with self.write_lock, self.connection() as conn:
                        conn.execute("BEGIN IMMEDIATE")
                        conn.executemany(INSERT, chunk[at : at + LAZY_BATCH])
                        conn.execute("COMMIT")
                last_id = chunk[-1][0]
            with self.write_lock, self.connection() as conn:
                self._finish_program(conn, prog, last_id)
            logger.info(
                "program %s: %s customers generated in %.2fs",
                prog.n,
                prog.customers,
                time.monotonic() - started,
            )
        self.load_program(prog)

    def regenerate(self, prog: Program) -> None:
        """Replace prog's data in place (POST /_sandbox/reset); readers see old or new, never half."""
        with self.write_lock, self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._drop_program(conn, prog.n)
            self._fill(conn, prog)
            conn.execute("COMMIT")
            conn.execute("ANALYZE")
        self.load_program(prog)

    @staticmethod
    def _drop_program(conn: sqlite3.Connection, n: int) -> None:
        for table, column in (("customers", "program"), ("tiers", "program"), ("corrupt", "program")):
            conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (n,))  # noqa: S608  # nosec B608 - constants
        conn.execute("DELETE FROM programs WHERE n = ?", (n,))

    def load_program(self, prog: Program) -> None:
        with self.connection() as conn:
            row = conn.execute(
                "SELECT customers, seed, kind, tiers, anchor_ms, max_customer_id, max_tier_id "
                "FROM programs WHERE n = ?",
                (prog.n,),
            ).fetchone()
            prog.customers, prog.seed, prog.kind, prog.tiers_count, prog.anchor_ms = row[:5]
            prog.max_customer_id, prog.max_tier_id = row[5], row[6]
            prog.corrupt = {}
            for cid, name, value in conn.execute(
                "SELECT id, field, value FROM corrupt WHERE program = ?", (prog.n,)
            ):
                prog.corrupt.setdefault(cid, {})[name] = value
            self.load_tiers(conn, prog)

    @staticmethod
    def load_tiers(conn: sqlite3.Connection, prog: Program) -> None:
        cols = ("id", "name", "milestone", "image_url", "perks", "entry_rewards")
        prog.tiers = [
            dict(zip(cols, r, strict=True))
            for r in conn.execute(
                f"SELECT {', '.join(cols)} FROM tiers WHERE program = ? ORDER BY milestone, id",  # noqa: S608  # nosec B608 - constant column names
                (prog.n,),
            )
        ]
        prog.index = data.tier_index(prog.tiers, prog.kind, prog.anchor_ms)

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
        prog: Program,
        *,
        state: str | None,
        email_lc: str | None,
        updated_min: int | None,
        after_id: int | None,
        direction: str,
        limit: int,
        updated_exclusive: bool = False,
    ) -> tuple[list[tuple], bool]:
        """Keyset page of prog: (id, base, vip) rows in id-descending order,
        plus whether more rows exist beyond the page in the walking direction."""
        # One lower and one upper id bound (SQLite uses only the first of two on the same side).
        low, high = prog.id_lo, prog.id_hi
        if after_id is not None:
            if direction == "next":
                high = min(high, after_id)
            else:
                low = max(low, after_id + 1)
        where, params, hint = ["id >= ?", "id < ?"], [low, high], ""
        with self.connection() as conn:
            if email_lc is not None:
                where.append("program = ? AND email_lc = ?")
                params += [prog.n, email_lc]
            if state is not None:
                where.append("program = ? AND state = ?" if email_lc is None else "+state = ?")
                params += [prog.n, state] if email_lc is None else [state]
            if updated_min is not None:
                op = ">" if updated_exclusive else ">="
                count = (
                    "SELECT count(*) FROM (SELECT 1 FROM customers INDEXED BY ix_customers_updated "  # noqa: S608  # nosec B608 - constant
                    f"WHERE program = ? AND updated_ms {op} ? LIMIT ?)"
                )
                narrow = (
                    email_lc is None
                    and conn.execute(count, (prog.n, updated_min, UPDATED_INDEX_MAX + 1)).fetchone()[0]
                    <= UPDATED_INDEX_MAX
                )
                if narrow:  # few rows: walk the updated_ms index and sort them (the planner won't guess)
                    where.append(f"program = ? AND updated_ms {op} ?")
                    params += [prog.n, updated_min]
                    hint = " INDEXED BY ix_customers_updated"
                else:
                    where.append(f"+updated_ms {op} ?")
                    params.append(updated_min)
            sql = "SELECT id, base, vip FROM customers" + hint + " WHERE " + " AND ".join(where)  # noqa: S608  # nosec B608 - constant fragments only
            sql += " ORDER BY id " + ("DESC" if direction == "next" else "ASC") + " LIMIT ?"
            rows = conn.execute(sql, (*params, limit + 1)).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        if direction != "next":
            rows.reverse()
        return rows, more

    def exists_beyond(self, prog: Program, *, before_id: int, **filters) -> bool:
        rows, _ = self.list_page(prog, after_id=before_id, direction="next", limit=1, **filters)
        return bool(rows)

    def complete_programs(self) -> set[int]:
        """The programs whose data the file holds (generated in this process or an earlier one)."""
        with self.connection() as conn:
            return {n for (n,) in conn.execute("SELECT n FROM programs WHERE complete = 1")}

    def first_id_from(self, prog: Program, start: int) -> int | None:
        """The lowest id of prog at or above ``start`` (used to pick customers at random)."""
        with self.connection() as conn:
            row = conn.execute(
                "SELECT id FROM customers WHERE id >= ? AND id < ? ORDER BY id LIMIT 1", (start, prog.id_hi)
            ).fetchone()
        return None if row is None else row[0]

    def get_row(self, prog: Program, cid: int) -> tuple | None:
        """(id, base, vip, vip_tier_id) of one of prog's customers."""
        if not prog.owns(cid):
            return None
        with self.connection() as conn:
            return conn.execute(
                "SELECT id, base, vip, vip_tier_id FROM customers WHERE id = ?",
                (cid,),
            ).fetchone()

    def count(self, prog: Program) -> int:
        with self.connection() as conn:
            return conn.execute(
                "SELECT count(*) FROM customers WHERE id >= ? AND id < ?", (prog.id_lo, prog.id_hi)
            ).fetchone()[0]

    def export_rows(self, prog: Program):
        """Yield prog's raw customer dicts in id-descending order (streamed, constant memory)."""
        with self.connection() as conn:
            cur = conn.execute(
                f"SELECT {RAW}, base FROM customers WHERE id >= ? AND id < ? ORDER BY id DESC",  # noqa: S608  # nosec B608 - constant
                (prog.id_lo, prog.id_hi),
            )
            cols = [*RAW.split(", "), "base"]
            for row in cur:
                yield dict(zip(cols, row, strict=True))

    # ---- writes (customers and tiers: writes.py) -------------------------------------------
    def tick(self) -> int:
        """Now in ms, strictly greater than every previous tick (call with write_lock held)."""
        self._last_tick = max(now_ms(), self._last_tick + 1)
        return self._last_tick
