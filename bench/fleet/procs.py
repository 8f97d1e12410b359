"""CPU and memory of process trees, from /proc: the clusters (every worker they forked), PostgreSQL (the
postmaster and its backends), Redis, gunicorn, the sandbox.

A process's CPU is ``utime + stime``; its ``cutime + cstime`` hold the CPU of the children it has reaped.
So the CPU a tree has used so far is the sum of all four over its live processes: a worker that exited
is counted by the parent that waited for it (django-q2's sentinel, the postmaster).
"""

import contextlib
import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for task in tasks:
        with contextlib.suppress(OSError):
            kids += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return kids


def tree(pid: int) -> list[int]:
    """``pid`` and every live descendant."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        if _stat(current) is None:
            continue
        found.append(current)
        todo += children(current)
    return found


def cpu_seconds(pid: int) -> float:
    """CPU used so far by the tree under ``pid`` (itself, live descendants, the children they reaped)."""
    total = 0
    for member in tree(pid):
        fields = _stat(member)
        if fields is not None:  # fields[11:15]: utime stime cutime cstime (after "pid (comm)")
            total += sum(int(x) for x in fields[11:15])
    return total / TICK


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def parent(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


class Meter:
    """CPU seconds of named process trees between two readings: ``meter.read()`` -> {name: seconds}."""

    def __init__(self, roots: dict[str, list[int]]):
        self.roots = roots
        self.last = self._now()

    def _now(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in self.roots.items()}

    def read(self) -> dict[str, float]:
        """CPU seconds each group used since the last ``read()`` (or the meter's creation)."""
        now = self._now()
        used = {name: round(now[name] - self.last.get(name, 0.0), 3) for name in now}
        self.last = now
        return used
