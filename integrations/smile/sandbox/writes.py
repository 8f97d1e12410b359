"""Row-level writes of one program's customers, tiers and corruptions (validation is in mutations.py).

Call the functions taking a ``conn`` inside ``store.write_lock`` and a transaction; the others take
both themselves. Every customer change gets ``updated_at`` from ``store.tick()`` unless told otherwise.
"""

from __future__ import annotations

import json
import sqlite3

from .fleet import Program
from .render import render_base
from .store import INSERT, INSERT_TIER, Store


def write_customer(store: Store, conn: sqlite3.Connection, prog: Program, c: dict, progress) -> None:
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
            prog.index.vip_status(c["vip_tier_id"], c["vip_tier_expires_at"], progress).encode(),
            prog.n,
        ),
    )


def load_customer(conn: sqlite3.Connection, prog: Program, cid: int) -> tuple[dict, float | None] | None:
    """The stored customer as a dict (times in epoch ms) and its progress value; None if not prog's."""
    if not prog.owns(cid):
        return None
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


def next_customer_id(conn: sqlite3.Connection, prog: Program) -> int:
    """A new highest id in prog's range (ids are never reused)."""
    top = conn.execute(
        "SELECT coalesce(max(id), 0) FROM customers WHERE id >= ? AND id < ?", (prog.id_lo, prog.id_hi)
    ).fetchone()[0]
    prog.max_customer_id = max(prog.max_customer_id, top, prog.id_lo) + 1
    conn.execute("UPDATE programs SET max_customer_id = ? WHERE n = ?", (prog.max_customer_id, prog.n))
    return prog.max_customer_id


def delete_customer(store: Store, prog: Program, cid: int) -> bool:
    if not prog.owns(cid):
        return False
    with store.write_lock, store.connection() as conn:
        return conn.execute("DELETE FROM customers WHERE id = ?", (cid,)).rowcount > 0


def next_tier_id(prog: Program) -> int:
    known = [t["id"] for t in prog.tiers]
    prog.max_tier_id = max([prog.tier_base, prog.max_tier_id, *known]) + 7
    return prog.max_tier_id


def save_tier(store: Store, prog: Program, tier: dict) -> None:
    with store.write_lock, store.connection() as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(INSERT_TIER, tier | {"program": prog.n})
        conn.execute("UPDATE programs SET max_tier_id = ? WHERE n = ?", (prog.max_tier_id, prog.n))
        rerender_vip(store, conn, prog)
        conn.execute("COMMIT")


def rerender_vip(store: Store, conn: sqlite3.Connection, prog: Program, chunk: int = 50_000) -> None:
    """Tiers changed: reload prog's tier index and re-render every stored vip_status (next tier and
    deltas depend on the tiers). Call inside the write transaction."""
    store.load_tiers(conn, prog)
    status, after = prog.index.vip_status, prog.id_lo - 1
    while True:
        rows = conn.execute(
            "SELECT id, vip_tier_id, vip_tier_expires_at, progress_value FROM customers "
            "WHERE id > ? AND id < ? ORDER BY id LIMIT ?",
            (after, prog.id_hi, chunk),
        ).fetchall()
        if not rows:
            return
        conn.executemany(
            "UPDATE customers SET vip = ? WHERE id = ?",
            [(status(t, e, p).encode(), i) for i, t, e, p in rows],
        )
        after = rows[-1][0]


def delete_tier(store: Store, prog: Program, tier_id: int, bump: bool) -> list[int] | None:
    """Remove a tier; its customers drop to no tier (``updated_at`` bumped when ``bump``).
    Returns their ids, or None when prog has no such tier."""
    with store.write_lock, store.connection() as conn:
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("DELETE FROM tiers WHERE program = ? AND id = ?", (prog.n, tier_id)).rowcount == 0:
            conn.execute("ROLLBACK")
            return None
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM customers WHERE program = ? AND vip_tier_id = ?", (prog.n, tier_id)
            )
        ]
        stamp = store.tick() if bump else None
        for cid in ids:
            c, progress = load_customer(conn, prog, cid)
            c.update(vip_tier_id=None, vip_tier_expires_at=None)
            if bump:
                c["updated_at"] = stamp
            write_customer(store, conn, prog, c, progress)
        rerender_vip(store, conn, prog)
        conn.execute("COMMIT")
    return ids


def set_corruption(store: Store, prog: Program, cid: int, field: str, value: str | None) -> None:
    """Render ``field`` of customer cid as the JSON text ``value`` (None: without the field)."""
    with store.write_lock, store.connection() as conn:
        conn.execute("INSERT OR REPLACE INTO corrupt VALUES (?, ?, ?, ?)", (cid, field, prog.n, value))
        prog.corrupt[cid] = {**prog.corrupt.get(cid, {}), field: value}  # readers iterate the old dict


def clear_corruption(store: Store, prog: Program, cid: int) -> bool:
    with store.write_lock, store.connection() as conn:
        conn.execute("DELETE FROM corrupt WHERE id = ?", (cid,))
        return prog.corrupt.pop(cid, None) is not None


def touch(store: Store, prog: Program, cid: int) -> bool:
    """Bump a customer's updated_at (a change Smile made that only shows in how it renders)."""
    with store.write_lock, store.connection() as conn:
        conn.execute("BEGIN IMMEDIATE")
        loaded = load_customer(conn, prog, cid)
        if loaded is None:
            conn.execute("ROLLBACK")
            return False
        c, progress = loaded
        c["updated_at"] = store.tick()
        write_customer(store, conn, prog, c, progress)
        conn.execute("COMMIT")
    return True
