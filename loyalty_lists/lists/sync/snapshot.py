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

from integrations.smile.types import CustomerData

from ..membership import MEMBER, email_normalize
from ..models import SmileCustomer
from .sql import col, distinct_op, dt, execute, qn, table

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
    "email_indexed",
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


CHUNK_ROWS = 500  # rows per INSERT statement (x 15 parameters: far below every backend's limit)


def _upsert_sql(rows: int) -> str:
    """The statement for ``rows`` rows (a full chunk's, ~30 kB, is built once per backend)."""
    key = (connection.vendor, rows)
    sql = _SQL_CACHE.get(key)
    if sql is None:
        sql = _build_upsert_sql(rows)
        if rows == CHUNK_ROWS:
            _SQL_CACHE[key] = sql
    return sql


_SQL_CACHE: dict[tuple[str, int], str] = {}


def _build_upsert_sql(rows: int) -> str:
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
        # a new email leaves the email index until the next publish (``index_emails``)
        f"{qn('email_indexed')} = CASE WHEN {newer} AND {new('email')} <> {old('email')}"
        f" THEN {new('email_indexed')} ELSE {old('email_indexed')} END",
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


def _row(merchant_id: int, customer: CustomerData, seen_at: datetime, tier_names: dict[int, str], seq: int):
    """The customer's upsert row (``COLUMNS``), datetimes as the backend stores them."""
    tier = customer.vip_tier_id
    created = dt(customer.created_at)
    return (
        merchant_id,
        customer.id,
        email_normalize(customer.email),
        customer.state,
        customer.points_balance,
        tier,
        None if tier is None else tier_names.get(tier),
        dt(customer.vip_tier_expires_at),
        created,
        dt(customer.updated_at),
        created if customer.state == MEMBER else None,
        dt(seen_at),
        None,
        False,  # into the email index at the next publish
        seq,
    )


def upsert_customers(
    merchant_id: int,
    rows: Iterable[tuple[CustomerData, datetime]],
    *,
    seq: int,
    tier_names: dict[int, str],
) -> int:
    """Upsert ``(customer, seen_at)`` pairs, all with change number ``seq``; ``tier_names`` maps tier ids
    to the names to store (the last good cycle's tier list). Multi-row statements: one round trip per
    ``CHUNK_ROWS`` customers. Returns the number of customers written."""
    newest: dict[int, tuple[CustomerData, datetime]] = {}
    for customer, seen_at in rows:  # one row per customer per statement (PostgreSQL requires it)
        known = newest.get(customer.id)
        if known is None or (customer.updated_at, seen_at) >= (known[0].updated_at, known[1]):
            newest[customer.id] = (customer, seen_at)
    if not newest:
        return 0
    params: list = []
    for customer, seen_at in newest.values():
        params.extend(_row(merchant_id, customer, seen_at, tier_names, seq))
    width = len(COLUMNS)
    with connection.cursor() as cursor:
        for start in range(0, len(params), CHUNK_ROWS * width):
            chunk = params[start : start + CHUNK_ROWS * width]
            cursor.execute(_upsert_sql(len(chunk) // width), chunk)
    return len(newest)


def index_emails(merchant_id: int, smile_ids: Iterable[int] | None = None) -> int:
    """Put the rows written since the last publish (or those of ``smile_ids``) into the email index:
    one statement, so the index takes them in one transaction (see ``SmileCustomer``). The publish
    calls it, so reads by email and the lists change together. (The ORM's SQL matches the partial
    indexes' conditions word for word, which SQLite needs to use them.)"""
    pending = SmileCustomer.objects.filter(merchant_id=merchant_id, email_indexed=False)
    if smile_ids is not None:
        pending = pending.filter(smile_id__in=list(smile_ids))
    return pending.update(email_indexed=True)


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
