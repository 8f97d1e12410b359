"""Per-token sliding-window rate limiting and the /v1 request log.

Smile documents "10 requests per second per token; beyond that every request gets 429 until one
second has passed". The sandbox enforces: at most ``limit`` *accepted* requests in any sliding
one-second window per token. Rejected (429) requests do not consume the allowance.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque

WINDOW = 1.0


def token_fingerprint(token: str | None) -> str:
    """First 12 hex chars of sha256(token): safe to log and to expose; never the token itself."""
    if not token:
        return ""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class RateLimiter:
    def __init__(self, limit: int):
        self.limit = limit
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        return self.check(key, now)[0]

    def check(self, key: str, now: float | None = None) -> tuple[bool, float, int, float]:
        """(accepted?, the time of the decision, requests left in the window, seconds until the next
        one would be accepted). Without ``now`` the clock is read under the lock, so decisions and
        their timestamps are in the same order (the request log uses them)."""
        if self.limit <= 0:
            return True, time.time() if now is None else now, 0, 0.0
        with self._lock:
            now = time.time() if now is None else now
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - WINDOW:
                hits.popleft()
            if len(hits) >= self.limit:
                return False, now, 0, hits[0] + WINDOW - now
            hits.append(now)
            return True, now, self.limit - len(hits), 0.0

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


class RequestLog:
    """Ring buffer of every /v1 request: (ts, token fingerprint, method, path, query, status, program);
    ``program`` is None when the request was not authenticated."""

    FIELDS = ("ts", "token", "method", "path", "query", "status", "program")

    def __init__(self, size: int):
        self._items: deque[tuple] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(
        self, ts: float, token: str, method: str, path: str, query: str, status: int, program: int | None
    ) -> None:
        with self._lock:
            self._items.append((ts, token, method, path, query, status, program))

    def since(self, since: float | None, limit: int | None, program: int | None = None) -> list[dict]:
        with self._lock:
            items = list(self._items)
        if program is not None:
            items = [i for i in items if i[6] == program]
        if since is not None:
            items = [i for i in items if i[0] >= since]
        items.sort(key=lambda i: i[0])
        if limit is not None:
            items = items[:limit]
        return [dict(zip(self.FIELDS, i, strict=True)) for i in items]

    def clear(self, program: int | None = None) -> None:
        with self._lock:
            if program is None:
                self._items.clear()
            else:
                kept = [i for i in self._items if i[6] != program]
                self._items.clear()
                self._items.extend(kept)
