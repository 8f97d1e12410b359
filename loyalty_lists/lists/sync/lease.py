"""The per-merchant lease: at most one sync cycle per merchant, whatever the number of workers.

Claiming is one conditional UPDATE on the merchant's ``SyncLease`` row (portable: SQLite and
PostgreSQL)::

    UPDATE lists_synclease SET holder=?, expires_at=now+ttl
     WHERE merchant_id=? AND (holder IS NULL OR expires_at < now)

rowcount 1 means this caller holds the lease. The holder heartbeats while it works (extending
``expires_at``); a crashed holder simply stops heartbeating and its lease expires after ``ttl``.
Before publishing, the holder re-checks inside the publish transaction that the lease is still its own,
so a holder that stalled past its expiry (and was overtaken) can never publish.
"""

import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..models import SyncLease

logger = logging.getLogger(__name__)


def lease_ttl() -> timedelta:
    return timedelta(seconds=settings.SYNC_LEASE_TTL_SECONDS)


class LeaseLost(Exception):
    """Another worker took over the lease (ours expired): stop without publishing."""


class Lease:
    def __init__(self, merchant_id: int, holder: str, ttl: timedelta):
        self.merchant_id = merchant_id
        self.holder = holder
        self.ttl = ttl
        self._last_beat = 0.0

    def _mine(self):
        return SyncLease.objects.filter(merchant_id=self.merchant_id, holder=self.holder)

    def claim(self) -> bool:
        """One UPDATE (the row is created the first time: a second try)."""
        lease = SyncLease.objects.filter(merchant_id=self.merchant_id)
        for attempt in range(2):
            now = timezone.now()
            self._last_beat = time.monotonic()
            if lease.filter(Q(holder__isnull=True) | Q(expires_at__lt=now)).update(
                holder=self.holder, acquired_at=now, heartbeat_at=now, expires_at=now + self.ttl
            ):
                return True
            if attempt or lease.exists():
                return False
            SyncLease.objects.bulk_create([SyncLease(merchant_id=self.merchant_id)], ignore_conflicts=True)
        return False

    def heartbeat(self, *, force: bool = False) -> None:
        """Extend the lease (at most every ttl/5 unless ``force``); raise ``LeaseLost`` if it is gone."""
        if not force and time.monotonic() - self._last_beat < self.ttl.total_seconds() / 5:
            return
        now = timezone.now()
        if not self._mine().filter(expires_at__gt=now).update(heartbeat_at=now, expires_at=now + self.ttl):
            raise LeaseLost(f"The sync lease of merchant {self.merchant_id} expired and was taken over.")
        self._last_beat = time.monotonic()

    def release(self) -> None:
        self._mine().update(holder=None, expires_at=None)


def lease_claim(merchant_id: int, *, ttl: timedelta | None = None, holder: str | None = None) -> Lease | None:
    """The merchant's lease (``ttl``: ``SYNC_LEASE_TTL_SECONDS``), or None when another (live) cycle
    holds it."""
    lease = Lease(merchant_id, holder or uuid.uuid4().hex, ttl or lease_ttl())
    if lease.claim():
        return lease
    logger.info("Sync lease of merchant %s is held by another worker; not starting a cycle", merchant_id)
    return None
