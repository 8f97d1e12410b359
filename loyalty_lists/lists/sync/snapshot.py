"""Writes to the customer snapshot: batched conditional upserts and tombstones.

The upsert is one portable ``INSERT ... ON CONFLICT (merchant_id, smile_id) DO UPDATE`` run with
``executemany`` over a batch. It is *conditional*: the data columns only change when the incoming row is
at least as new as the stored one (Smile's ``updated_at``), so a page fetched before a webhook refresh
can never overwrite the webhook's newer data (and duplicate / out-of-order webhooks are harmless).
``last_seen_at`` (our clock) always advances: a full walk uses it to tell who Smile still has.

``loyalty_member_since`` (DESIGN.md) is derived here, from the stored row and the incoming one:
* first time we see the customer: their ``created_at`` if they are already a member, else NULL;
* later: unchanged while they stay a member; the moment we saw it (``last_seen_at``) when they
  become a member; NULL while they are not a member.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import connection

from integrations.smile.types import CustomerData, email_normalize

from ..membership import MEMBER
from ..models import SmileCustomer
from .sql import col, distinct_op, dt, dt_adapter, execute, qn, table

COLUMNS = (
    "merchant_id",
    "smile_id",
    "email",
    "state",
    "points_balance",
    "vip_tier_id",
    "vip_tier_name",
    "vip_tier_expires_at",
    "smile_created_at",
    "smile_updated_at",
    "loyalty_member_since",
    "last_seen_at",
    "gone_at",
    "change_seq",
)
DATA_COLUMNS = (
    "email",
    "state",
    "points_balance",
    "vip_tier_id",
    "vip_tier_name",
    "vip_tier_expires_at",
    "smile_created_at",
    "smile_updated_at",
)
LIST_COLUMNS = ("email", "state", "points_balance", "vip_tier_id", "vip_tier_name", "vip_tier_expires_at")


CHUNK_ROWS = 500  # rows per INSERT statement (x 14 parameters: far below every backend's limit)


def _upsert_sql(rows: int) -> str:
    t = table(SmileCustomer)

    def old(name):
        return col(SmileCustomer, name)

    def new(name):
        return f"excluded.{qn(name)}"

    newer = (
        f"({new('smile_updated_at')} >= {old('smile_updated_at')}"
        f" AND ({old('gone_at')} IS NULL OR {new('last_seen_at')} > {old('gone_at')}))"
    )
    # Only a real change of what lists show takes a new change number (a full walk re-reads every
    # customer; unchanged ones must not make every list re-examine them).
    changed = " OR ".join(f"{new(c)} {distinct_op()} {old(c)}" for c in LIST_COLUMNS)
    sets = [f"{qn(c)} = CASE WHEN {newer} THEN {new(c)} ELSE {old(c)} END" for c in DATA_COLUMNS]
    sets += [
        f"{qn('loyalty_member_since')} = CASE WHEN {newer} THEN"
        f" (CASE WHEN {new('state')} = '{MEMBER}' THEN"
        f" (CASE WHEN {old('state')} = '{MEMBER}' AND {old('loyalty_member_since')} IS NOT NULL"
        f" THEN {old('loyalty_member_since')} ELSE {new('last_seen_at')} END)"
        f" ELSE NULL END)"
        f" ELSE {old('loyalty_member_since')} END",
        f"{qn('gone_at')} = CASE WHEN {newer} THEN NULL ELSE {old('gone_at')} END",
        f"{qn('change_seq')} = CASE WHEN {newer} AND ({old('gone_at')} IS NOT NULL OR {changed})"
        f" THEN {new('change_seq')} ELSE {old('change_seq')} END",
        f"{qn('last_seen_at')} = CASE WHEN {new('last_seen_at')} > {old('last_seen_at')}"
        f" THEN {new('last_seen_at')} ELSE {old('last_seen_at')} END",
    ]
    row = f"({', '.join(['%s'] * len(COLUMNS))})"
    return (
        f"INSERT INTO {t} ({', '.join(qn(c) for c in COLUMNS)}) VALUES {', '.join([row] * rows)}"  # noqa: S608  # nosec B608
        f" ON CONFLICT ({qn('merchant_id')}, {qn('smile_id')}) DO UPDATE SET {', '.join(sets)}"
    )


_FULL_CHUNK_SQL: str | None = None


def _full_chunk_sql() -> str:
    global _FULL_CHUNK_SQL
    _FULL_CHUNK_SQL = _upsert_sql(CHUNK_ROWS)
    return _FULL_CHUNK_SQL


def upsert_customers(
    merchant_id: int,
    rows: Iterable[tuple[CustomerData, datetime]],
    *,
    seq: int,
    tier_names: dict[int, str],
) -> int:
    """Upsert ``(customer, seen_at)`` pairs; ``tier_names`` maps tier ids to the names to store (the last
    good cycle's tier list). Multi-row statements: one round trip (and one release of the GIL) per
    ``CHUNK_ROWS`` customers. Returns the number of customers written."""
    newest: dict[int, tuple[CustomerData, datetime]] = {}
    for c, seen_at in rows:  # one row per customer per statement (PostgreSQL requires it)
        known = newest.get(c.id)
        if known is None or (c.updated_at, seen_at) >= (known[0].updated_at, known[1]):
            newest[c.id] = (c, seen_at)
    if not newest:
        return 0
    adapt = dt_adapter()
    seen_raw, seen_db = None, None
    params: list = []
    extend = params.extend
    for c, seen_at in newest.values():
        if seen_at is not seen_raw:  # rows of one page share their time
            seen_raw, seen_db = seen_at, adapt(seen_at)
        tier = c.vip_tier_id
        created = adapt(c.created_at)
        extend(
            (
                merchant_id,
                c.id,
                email_normalize(c.email),
                c.state,
                c.points_balance,
                tier,
                None if tier is None else tier_names.get(tier),
                None if c.vip_tier_expires_at is None else adapt(c.vip_tier_expires_at),
                created,
                adapt(c.updated_at),
                created if c.state == MEMBER else None,
                seen_db,
                None,
                seq,
            )
        )
    width = len(COLUMNS)
    with connection.cursor() as cursor:
        for start in range(0, len(params), CHUNK_ROWS * width):
            chunk = params[start : start + CHUNK_ROWS * width]
            rows_in_chunk = len(chunk) // width
            if rows_in_chunk == CHUNK_ROWS:
                sql = _FULL_CHUNK_SQL or _full_chunk_sql()
            else:
                sql = _upsert_sql(rows_in_chunk)
            cursor.execute(sql, chunk)
    return len(newest)


def tombstone_customers(merchant_id: int, smile_ids: list[int], *, now: datetime, seq: int) -> int:
    """Mark customers Smile no longer has (404 / absent from a completed full walk)."""
    if not smile_ids:
        return 0
    t = table(SmileCustomer)
    total = 0
    for start in range(0, len(smile_ids), 500):
        chunk = smile_ids[start : start + 500]
        total += execute(
            f"UPDATE {t} SET {qn('gone_at')} = %s, {qn('change_seq')} = %s"  # noqa: S608  # nosec B608
            f" WHERE {qn('merchant_id')} = %s AND {qn('gone_at')} IS NULL"
            f" AND {qn('smile_id')} IN ({', '.join(['%s'] * len(chunk))})",
            [dt(now), seq, merchant_id, *chunk],
        )
    return total


def unseen_since(merchant_id: int, walk_started_at: datetime):
    """Live snapshot rows nobody saw since ``walk_started_at`` (candidates for "gone from Smile")."""
    return SmileCustomer.objects.filter(
        merchant_id=merchant_id, gone_at__isnull=True, last_seen_at__lt=walk_started_at
    )
