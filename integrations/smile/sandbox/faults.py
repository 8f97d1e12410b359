"""Fault injection for failure drills: count-limited or time-boxed 429/500/503/malformed/hang/latency.

Faults are checked before authentication (they simulate Smile's edge misbehaving). The first active
fault whose ``path_prefix`` matches is applied; a count-limited fault is consumed by each hit. A fault
is global unless it names a ``program``: then it only hits /v1 requests whose token is that program's.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import asdict, dataclass

KINDS = ("429", "500", "503", "malformed", "hang", "latency")


@dataclass
class Fault:
    id: int
    kind: str
    path_prefix: str = "/v1/"
    count: int | None = None  # remaining hits; None = unlimited until `until`
    until: float | None = None  # time.time() deadline for time-boxed storms
    latency_ms: int = 1000
    hang_seconds: float = 120.0
    hits: int = 0
    program: int | None = None  # None: every program (and requests without a valid token)

    def public(self) -> dict:
        d = asdict(self)
        d["remaining_seconds"] = None if self.until is None else max(0.0, round(self.until - time.time(), 3))
        return d


class FaultError(ValueError):
    pass


class Faults:
    def __init__(self):
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.released = threading.Event()  # set by clear() to let hanging requests go

    def add(self, spec: dict, program: int | None = None) -> Fault:
        kind = str(spec.get("kind", ""))
        if kind not in KINDS:
            raise FaultError(f"kind must be one of {', '.join(KINDS)}")
        count, seconds = spec.get("count"), spec.get("seconds")
        if count is None and seconds is None:
            count = 1
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise FaultError("count must be a positive integer")
        if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
            raise FaultError("seconds must be a positive number")
        prefix = spec.get("path_prefix", "/v1/")
        if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.startswith("/_sandbox"):
            raise FaultError("path_prefix must start with / and not target /_sandbox")
        fault = Fault(
            id=next(self._ids),
            kind=kind,
            path_prefix=prefix,
            count=count,
            until=None if seconds is None else time.time() + float(seconds),
            latency_ms=int(spec.get("latency_ms", 1000)),
            hang_seconds=float(spec.get("hang_seconds", 120)),
            program=program,
        )
        with self._lock:
            self.released.clear()
            self._faults.append(fault)
        return fault

    def take(self, path: str, program: int | None = None) -> Fault | None:
        """The fault to apply to this request (of ``program``, when its token names one), consuming one
        hit of it; None when healthy."""
        now = time.time()
        with self._lock:
            self._faults = [f for f in self._faults if not self._spent(f, now)]
            for f in self._faults:
                if path.startswith(f.path_prefix) and f.program in (None, program):
                    f.hits += 1
                    if f.count is not None:
                        f.count -= 1
                    return f
        return None

    @staticmethod
    def _spent(f: Fault, now: float) -> bool:
        return (f.count is not None and f.count <= 0) or (f.until is not None and now >= f.until)

    def active(self) -> list[dict]:
        now = time.time()
        with self._lock:
            self._faults = [f for f in self._faults if not self._spent(f, now)]
            return [f.public() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
        self.released.set()
