"""The merchant's ``SyncState`` row: change counter, watermark, full-walk checkpoint.

The change counter orders snapshot writes against publishes. Every transaction that writes snapshot
rows takes a fresh number with ``seq_next`` (an UPDATE, so on PostgreSQL it row-locks the state until
commit) and stamps it on the rows it changes. A publish locks the same row (``state_lock``) and reads
the counter: every row with a number at or below it is committed and visible, every later write gets a
larger number. So "rows changed since the list's ``published_seq``" never misses a write, and a
publish never interleaves with a webhook refresh (on SQLite, IMMEDIATE transactions serialise writers
anyway).
"""

from datetime import datetime

from django.db import connection, transaction
from django.db.models import DateTimeField, Exists, F, Value
from django.db.models.functions import Coalesce, Greatest

from ..models import SyncLease, SyncState
from .lease import LeaseLost


def state_ensure(merchant_id: int) -> SyncState:
    """The merchant's state (with its merchant), created the first time."""
    state = SyncState.objects.select_related("merchant").filter(merchant_id=merchant_id).first()
    if state is None:
        SyncState.objects.bulk_create([SyncState(merchant_id=merchant_id)], ignore_conflicts=True)
        state = SyncState.objects.select_related("merchant").get(merchant_id=merchant_id)
    return state


def state_lock(merchant_id: int) -> SyncState:
    """Lock and return the state row; call inside ``transaction.atomic()``."""
    assert transaction.get_connection().in_atomic_block, "state_lock() needs a transaction"
    return SyncState.objects.select_for_update().get(merchant_id=merchant_id)


def seq_next(merchant_id: int, *, lease_holder: str | None = None, **fields) -> int:
    """A fresh change number for this transaction's snapshot writes (call inside ``atomic()``); also
    saves ``fields`` of the state row (a walk's checkpoint) in the same statement (``RETURNING``:
    SQLite >= 3.35, PostgreSQL). With ``lease_holder``, only while that holder has the merchant's
    lease: a worker that stalled past its lease (and was taken over) gets ``LeaseLost`` and writes
    no checkpoint over its successor's."""
    assert transaction.get_connection().in_atomic_block, "seq_next() needs a transaction"
    qn = connection.ops.quote_name
    seq = qn("change_seq")
    sets, params = [f"{seq} = {seq} + 1"], []
    for name, value in fields.items():
        field = SyncState._meta.get_field(name)
        sets.append(f"{qn(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    where, where_params = f"{qn('merchant_id')} = %s", [merchant_id]
    if lease_holder is not None:
        lease = qn(SyncLease._meta.db_table)
        holder = f"{qn('merchant_id')} = %s AND {qn('holder')} = %s"
        where += f" AND EXISTS (SELECT 1 FROM {lease} WHERE {holder})"  # noqa: S608  # nosec B608
        where_params += [merchant_id, lease_holder]
    sql = (
        f"UPDATE {qn(SyncState._meta.db_table)} SET {', '.join(sets)}"  # noqa: S608  # nosec B608
        f" WHERE {where} RETURNING {seq}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *where_params])
        row = cursor.fetchone()
    if row is None:
        raise LeaseLost(f"The sync lease of merchant {merchant_id} was taken over; not writing.")
    return row[0]


def state_advance(
    merchant_id: int, *, lease_holder: str, watermark: datetime, tiers_fetched_at: datetime
) -> None:
    """Move the watermark after a cycle that found nothing to publish, and note when its (unchanged) tier
    list was fetched — one statement, only while ``lease_holder`` holds the merchant's lease."""
    fetched = Value(tiers_fetched_at, output_field=DateTimeField())
    mine = SyncLease.objects.filter(merchant_id=merchant_id, holder=lease_holder)
    moved = (
        SyncState.objects.filter(merchant_id=merchant_id)
        .filter(Exists(mine))
        .update(
            watermark=watermark, tiers_fetched_at=Greatest(Coalesce(F("tiers_fetched_at"), fetched), fetched)
        )
    )
    if not moved:
        raise LeaseLost(f"The sync lease of merchant {merchant_id} was taken over; not recording.")
