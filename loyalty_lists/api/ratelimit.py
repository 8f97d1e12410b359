"""Per-key rate limit for the JSON API (``settings.API_RATE_LIMIT``, e.g. ``"6000/m"``).

Fixed windows counted in the Django cache, shared by every worker process: the counter for a key and
window is ``api-rl:<key prefix>:<window number>``, created with ``cache.add`` and bumped with
``cache.incr`` (atomic on Redis; on the database cache ``incr`` is a read and a write, so two workers
racing can lose an increment — a small overshoot, never a false 429).

So that the hot path does not pay a cache round trip on every call, each process adds its calls to the
shared counter in small batches (``batch = limit // 200``, at least 1): a process sends its count every
``batch`` calls, and every call once the counter is within one batch of the limit, so the limit is exact
for small limits and overshoots by at most ``(batch - 1) × processes`` calls per window for large ones
(with "6000/m": 29 per process, under 0.5% each). Once the shared counter is over the limit, the process
answers 429 without asking the cache again until the window ends. ``Retry-After`` is the time left in the
window, rounded up.

If the cache is down, calls are let through (and the failure logged): the rate limit protects the
service, it must not take it down.
"""

import logging
import math
import re
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from ninja.throttling import BaseThrottle

logger = logging.getLogger(__name__)

_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")
BATCH_DIVISOR = 200
MAX_TRACKED = 10_000


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds

    @property
    def batch(self) -> int:
        return max(1, self.limit // BATCH_DIVISOR)


_parsed: dict[str, Rate] = {}


def parse_rate(text: str) -> Rate:
    """``"6000/m"``, ``"10/s"``, ``"100/5m"``, ``"50000/day"``."""
    rate = _parsed.get(text)
    if rate is None:
        match = _RATE_RE.match(text.lower())
        if not match or match.group(3) not in _UNITS:
            raise ValueError(f"Bad rate {text!r}: expected like '6000/m' (units s, m, h, d).")
        count, multiplier, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
        rate = _parsed[text] = Rate(limit=count, period=multiplier * _UNITS[unit])
    return rate


@dataclass
class _Window:
    number: int
    known: int = 0  # the shared counter, as of this process's last send
    pending: int = 0  # calls counted here, not sent yet


class RateLimiter:
    def __init__(self, cache_alias: str = "default", clock=time.time):
        self.cache_alias = cache_alias
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()

    def hit(self, ident: str, rate: Rate) -> float | None:
        """Count one call for ``ident``; None when allowed, else the seconds until the window ends."""
        now = self.clock()
        number = int(now // rate.period)
        wait = (number + 1) * rate.period - now
        with self._lock:
            window = self._windows.get(ident)
            if window is None or window.number != number:
                if len(self._windows) >= MAX_TRACKED:
                    self._windows = {k: w for k, w in self._windows.items() if w.number == number}
                window = self._windows[ident] = _Window(number)
            if window.known > rate.limit:
                return wait
            window.pending += 1
            if window.pending < rate.batch and window.known + window.pending + rate.batch <= rate.limit:
                return None
            delta, window.pending = window.pending, 0
        total = self._add(f"api-rl:{ident}:{number}", delta, rate.period)
        if total is None:
            return None
        with self._lock:
            if window.number == number:
                window.known = max(window.known, total)
        return wait if total > rate.limit else None

    def _add(self, key: str, delta: int, period: int) -> int | None:
        cache = caches[self.cache_alias]
        try:
            try:
                return cache.incr(key, delta)
            except ValueError:  # no counter yet for this window
                if cache.add(key, delta, timeout=period + 5):
                    return delta
                return cache.incr(key, delta)
        except Exception:
            logger.warning(
                "API rate limit: the cache is unavailable; letting the call through.", exc_info=True
            )
            return None


limiter = RateLimiter()


class ApiKeyThrottle(BaseThrottle):
    """Ninja throttle over ``limiter``, keyed by the authenticated API key's prefix."""

    _local = threading.local()

    def allow_request(self, request) -> bool:
        key = getattr(request, "auth", None)
        if key is None:
            return True
        wait = limiter.hit(key.prefix, parse_rate(settings.API_RATE_LIMIT))
        self._local.wait = wait
        return wait is None

    def wait(self) -> float | None:
        wait = getattr(self._local, "wait", None)
        return None if wait is None else max(1, math.ceil(wait))
