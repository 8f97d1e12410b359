"""Each merchant's daily full reconcile has its own minute of the day, its *slot*, not one 03:00 herd.

``slot_minute(merchant_id)`` is a multiplicative (Fibonacci) hash of the id onto the 1,440 minutes of a
UTC day: stable (a pure function of the id, the same in every process and release) and spread evenly
— consecutive ids land about 0.618 of a day apart, so any 10,000 merchants put 6 or 7 in every
minute, never a clump.

``SyncState.next_full_at`` is the merchant's next slot. The schedule ``lists: full sync`` runs
``fulls_due_queue`` every ``SYNC_FULL_TICK_MINUTES``: it queues a full cycle for each connected
merchant whose ``next_full_at`` has passed and moves it to the slot's next day, all in a handful of
statements (a tick finds about N ÷ 288 merchants). A tick that did not run (every cluster down) is
caught up by the next one: a slot is never skipped, and never queued twice. A state row without a
slot yet (a merchant's first cycle creates it) gets its next slot at the next tick; that merchant's
first sync was a full walk anyway.
"""

import logging
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations.smile.models import SmileConnection

from ..models import SyncRun, SyncState
from . import queue

logger = logging.getLogger(__name__)

DAY_MINUTES = 24 * 60
_GOLDEN = 2654435769  # 2**32 / golden ratio (Knuth's multiplicative hashing)


def slot_minute(merchant_id: int) -> int:
    """The merchant's minute of the UTC day, 0..1439, for its daily full reconcile."""
    return ((merchant_id * _GOLDEN) % 2**32) * DAY_MINUTES >> 32


def slot_after(merchant_id: int, moment: datetime) -> datetime:
    """The merchant's first slot strictly after ``moment``."""
    moment = moment.astimezone(UTC)
    at = moment.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        minutes=slot_minute(merchant_id)
    )
    return at if at > moment else at + timedelta(days=1)


def fulls_due_queue(*, now: datetime | None = None) -> int:
    """Queue the full reconciles whose slot has passed (see the module docstring); returns how many
    were queued or turned from a queued delta into a full."""
    now = now or timezone.now()
    # Two ticks at once (a manual run beside the schedule) would move the same rows to the same slot and
    # queue the same cycles, which join: no lock needed.
    rows = list(
        SyncState.objects.filter(Q(next_full_at__isnull=True) | Q(next_full_at__lte=now)).values_list(
            "pk", "merchant_id", "next_full_at"
        )
    )
    if not rows:
        return 0
    with transaction.atomic():
        moved = [SyncState(pk=pk, next_full_at=slot_after(m, now)) for pk, m, _ in rows]
        SyncState.objects.bulk_update(moved, ["next_full_at"], batch_size=500)
    due = [m for _, m, at in rows if at is not None]
    connected = set(
        SmileConnection.objects.filter(
            status=SmileConnection.Status.CONNECTED, merchant_id__in=due
        ).values_list("merchant_id", flat=True)
    )
    merchant_ids = [m for m in due if m in connected]
    queued = queue.cycles_queue(merchant_ids, kind=SyncRun.Kind.FULL)
    if merchant_ids:
        logger.info("Full reconcile slots: %s merchants due, %s cycles queued", len(merchant_ids), queued)
    return len(merchant_ids)
