"""One request budget per Smile token, shared by every process and thread.

Smile allows 10 requests per second per token and answers 429 beyond that. Every worker that uses a
token draws from the same budget through Django's cache (the database cache by default, Redis in
production), using only ``cache.add`` — atomic on both backends (``incr`` is not atomic on the
database cache).

Design: time is cut into *slots* of ``(1 s + margin) / rate``. A sender claims the earliest free slot
at or after "now" with ``cache.add(f"{prefix}:{slot}")``, sleeps until the slot starts and sends. If it
wakes more than ``tolerance`` (< margin) after the slot start, it gives the slot up and claims a later
one (a bounded number of times). Any ``rate + 1`` sends therefore occupy ``rate + 1`` distinct slots,
whose starts span at least ``1 s + margin``; with each send within ``tolerance`` of its slot start, no
sliding one-second window ever holds more than ``rate`` sends, and ``margin - tolerance`` is left for
network and server jitter. Throughput is ``rate / (1 + margin)`` when there is enough demand.

Keys only name past or near-future slots, live a couple of seconds past their slot and are never
reused, so expiry and the database cache's culling (which drops expired keys first) are harmless.
The limiter is keyed by a hash of the token, never by the token itself.
``SMILE_RATE_LIMIT_PER_SECOND = 0`` disables limiting.
"""

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError

logger = logging.getLogger(__name__)

DEFAULT_MARGIN = 0.06  # seconds added to every second: throughput 10/1.06 = 9.4 req/s at 10 req/s
DEFAULT_TOLERANCE = 0.02  # a send later than this after its slot start takes a new slot
MAX_RECLAIMS = 20
PROBE_BATCH = 8


def token_key(token: str) -> str:
    """A stable, non-reversible name for a token's budget."""
    return hashlib.sha256(f"smile-rate-limit:{token}".encode()).hexdigest()[:32]


class RateLimiter:
    """``acquire()`` blocks until this caller may send one request under the shared budget."""

    def __init__(
        self,
        key: str,
        *,
        rate: float | None = None,
        margin: float = DEFAULT_MARGIN,
        tolerance: float = DEFAULT_TOLERANCE,
        cache_alias: str = "default",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if tolerance >= margin:
            raise ValueError("tolerance must be smaller than margin")
        self.key = key
        self.rate = settings.SMILE_RATE_LIMIT_PER_SECOND if rate is None else rate
        self.margin = margin
        self.tolerance = tolerance
        self.slot_width = (1.0 + margin) / self.rate if self.rate > 0 else 0.0
        self._cache_alias = cache_alias
        self._clock = clock
        self._sleep = sleep
        self._prefix = f"smile-rl:{key}"
        self._hint = 0  # last slot this process claimed: a starting point for the search, nothing more
        self._hint_lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self) -> float:
        """Wait for a send slot; returns the wall-clock time at which the caller may send."""
        if not self.enabled:
            return self._clock()
        for _ in range(MAX_RECLAIMS):
            slot = self._claim()
            start = slot * self.slot_width
            delay = start - self._clock()
            if delay > 0:
                self._sleep(delay)
            now = self._clock()
            if now - start <= self.tolerance:
                return now
            logger.debug(
                "Woke %.0f ms after rate-limit slot start; claiming another slot", (now - start) * 1000
            )
        logger.warning("Rate limiter kept waking late (overloaded host?); sending anyway")
        return self._clock()

    def _claim(self) -> int:
        cache = caches[self._cache_alias]
        now = self._clock()
        current = math.floor(now / self.slot_width)
        # the slot that has just begun is still usable while we are well inside its tolerance
        first = current if now - current * self.slot_width <= self.tolerance / 2 else current + 1
        with self._hint_lock:
            slot = max(first, self._hint + 1)
        while True:
            keys = [f"{self._prefix}:{slot + i}" for i in range(PROBE_BATCH)]
            try:
                taken = cache.get_many(keys)
            except DatabaseError:  # a busy database: just try the adds, they decide
                taken = {}
            for i, key in enumerate(keys):
                if key in taken:
                    continue
                candidate = slot + i
                ttl = math.ceil(candidate * self.slot_width - now) + 3
                try:
                    won = cache.add(key, 1, timeout=max(ttl, 3))
                except DatabaseError:
                    won = False
                if won:
                    with self._hint_lock:
                        self._hint = max(self._hint, candidate)
                    return candidate
            slot += PROBE_BATCH


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for_token(token: str) -> RateLimiter:
    """The process-wide limiter object for a token (its budget itself lives in the shared cache)."""
    key = token_key(token)
    rate = settings.SMILE_RATE_LIMIT_PER_SECOND
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None or limiter.rate != rate:
            limiter = _limiters[key] = RateLimiter(key, rate=rate)
            if len(_limiters) > 1000:  # old tokens after refreshes; keep the map small
                _limiters.clear()
                _limiters[key] = limiter
        return limiter
