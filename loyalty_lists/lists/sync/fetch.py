"""Streaming customer pages from Smile into snapshot writes, with flat memory and exact checkpoints.

One *chain* is one cursor walk over ``GET /customers``: one per ``state``, or one per id range (see
below), or one unfiltered ``updated_at_min`` walk for a delta. Several chains fetch in parallel threads;
the calling thread is the only writer (SQLite has one writer anyway).

**A chain asks for its next page only after the previous page is committed** with the chain's new cursor
(``flush`` writes rows and checkpoint in one transaction). So when the worker is killed, each chain
refetches at most the one page it had in flight, and a resumed walk never skips a page it did not store.
Throughput does not suffer: while one chain's page is being written the other chains' requests are in
flight, and the writer commits every page that has arrived in one transaction (group commit), so under
load the transactions grow by themselves. Memory is bounded by one page per chain.

**Id-range chains.** Smile lists customers by id, descending, with keyset cursors; its API offers no id
filter, but a cursor for "ids below N" can be made (``client.cursor_before``). A chain with
``id_below`` starts there and ends at its first customer below ``stop_below``, so a full walk can be
split into ranges of equal size (known from the snapshot) instead of per state (where the largest state
bounds the walk). The first page of such a chain is checked: if Smile did not honour the cursor (an id
at or above ``id_below``), or rejected it, the walk raises ``CursorUnsupported`` and the caller falls
back to per-state chains.

**Splitting** (``spread=N``): when a chain finishes while fewer than N are running, the running chain
with the most work left (estimated from its own pace and the lowest id any chain has reached) is cut at
the middle of what it has left: it now stops there, and a new chain with the same filter starts there
and runs down to where the old one would have stopped (the end, for the lowest chain: the estimate only
affects balance, never coverage). This is how the
first sync, which knows nothing about the ids, spreads the largest state over several chains.
``on_split(chain, stops)`` is told of the new chain and the changed stop before the new chain starts,
so the caller's checkpoint holds them from the next commit on; ``keys_taken`` are the keys the
checkpoint already uses (finished chains included), which a new chain must not reuse.

``flush(rows, cursors, pages)`` receives ``(customer, seen_at)`` pairs, the cursor position of every
chain in this flush (``(next_cursor, done)``) and how many pages the rows came from.
"""

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.utils import timezone

from integrations.smile.errors import SmileApiError
from integrations.smile.types import CustomerData

logger = logging.getLogger(__name__)

PAGE_LIMIT = 250
SAFETY_OVERLAP = timedelta(minutes=5)  # deltas ask for customers updated since the watermark minus this
BATCH_SIZE = 4000  # the most rows one group commit takes (pages are committed together when they queue up)
_DONE = object()
_FAILED = object()


class CursorUnsupported(Exception):
    """Smile did not honour a made-up cursor: split walks by state instead."""


@dataclass(frozen=True)
class Chain:
    key: str  # checkpoint key: the state, the id range, or "all"
    state: str | None = None
    updated_at_min: datetime | None = None
    start_cursor: str | None = None  # where a resumed chain continues (a cursor Smile gave us)
    id_below: int | None = None  # id-range chain: starts below this id (a made-up cursor) ...
    stop_below: int | None = None  # ... and ends at its first customer below this id


Rows = list[tuple[CustomerData, datetime]]
Flush = Callable[[Rows, dict[str, tuple[str | None, bool]], int], None]


SPLIT_MIN_PAGES = 6  # split a chain only when it has about this many pages left


def walk(
    client,
    chains: list[Chain],
    flush: Flush,
    *,
    batch_size: int | None = None,
    spread: int = 0,
    on_split: Callable[[Chain, dict[str, int]], None] | None = None,
    keys_taken: Iterable[str] = (),
) -> None:
    if not chains:
        return
    batch_size = batch_size or BATCH_SIZE
    if len(chains) == 1 and spread <= 1:
        _walk_inline(client, chains[0], flush)
    else:
        _walk_parallel(client, chains, flush, batch_size, spread, on_split, keys_taken)


class _Progress:
    """What the writer knows of the chains, to decide splits: each chain's first and latest id and its
    committed page count, and the lowest id any chain has reached."""

    def __init__(self):
        self.first: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.pages: dict[str, int] = {}
        self.floor: int | None = None

    def saw(self, key: str, page: "_Page") -> None:
        self.pages[key] = self.pages.get(key, 0) + 1
        if page.ids:
            self.first.setdefault(key, page.ids[0])
            low = page.ids[-1]
            self.last[key] = low
            self.floor = low if self.floor is None else min(self.floor, low)

    def pages_left(self, chain: Chain) -> float:
        key = chain.key
        if key not in self.last or self.floor is None:
            return 0.0
        bottom = max(self.floor, chain.stop_below or 0)
        walked = max(1, self.first[key] - self.last[key])
        return (self.last[key] - bottom) * self.pages[key] / walked


@dataclass(frozen=True, slots=True)
class _Page:
    ids: list[int]  # the customers' ids, in Smile's order (descending)
    rows: Rows
    next_cursor: str | None


def _pages(client, chain: Chain, stops: dict[str, int] | None = None):
    """The chain's pages; an id-range chain ends at its first customer below its (current) stop."""
    start = chain.start_cursor
    made_up = start is None and chain.id_below is not None
    if made_up:
        start = client.cursor_before(chain.id_below)
    pages = client.iter_customer_pages(
        state=chain.state, updated_at_min=chain.updated_at_min, start_cursor=start, limit=PAGE_LIMIT
    )
    first = True
    while True:
        try:
            page = next(pages)
        except StopIteration:
            return
        except SmileApiError as exc:  # a 400 for a cursor we made up: Smile does not take them
            if made_up and first:
                raise CursorUnsupported(f"Smile rejected a made-up cursor: {exc}") from exc
            raise
        customers = page.customers
        ids = [c.id for c in customers]
        if first and made_up and ids and ids[0] >= chain.id_below:
            raise CursorUnsupported("Smile ignored a made-up cursor (it returned ids above it)")
        first = False
        seen_at = timezone.now()
        low = chain.stop_below if stops is None else stops.get(chain.key, chain.stop_below)
        if low is not None and ids and ids[-1] < low:  # the chain ends within this page
            kept = sum(1 for i in ids if i >= low)
            yield _Page(ids[:kept], [(c, seen_at) for c in customers[:kept]], None)
            return
        yield _Page(ids, [(c, seen_at) for c in customers], page.next_cursor)


def _walk_inline(client, chain: Chain, flush: Flush) -> None:
    for page in _pages(client, chain):
        flush(page.rows, {chain.key: (page.next_cursor, page.next_cursor is None)}, 1)


def _walk_parallel(
    client,
    chains: list[Chain],
    flush: Flush,
    batch_size: int,
    spread: int,
    on_split,
    keys_taken,
) -> None:
    arrived: queue.Queue = queue.Queue()  # at most one page per chain: chains wait for their commit
    stop = threading.Event()
    stops: dict[str, int] = {}  # stop_below of chains that were cut short by a split
    progress = _Progress()
    keys_used = {c.key for c in chains} | set(keys_taken)  # a new chain's key is new to the checkpoint

    def produce(chain: Chain) -> None:
        try:
            for page in _pages(client, chain, stops):
                if stop.is_set():
                    return
                committed = threading.Event()
                arrived.put((chain.key, page, committed))
                while not committed.wait(0.1):
                    if stop.is_set():
                        return
            arrived.put((chain.key, _DONE, None))
        except BaseException as exc:  # handed to the writer, which re-raises it
            arrived.put((chain.key, _FAILED, exc))

    running: dict[str, Chain] = {}
    threads: list[threading.Thread] = []

    def start(chain: Chain) -> None:
        running[chain.key] = chain
        thread = threading.Thread(target=produce, args=(chain,), name=f"smile-chain-{chain.key}", daemon=True)
        threads.append(thread)
        thread.start()

    def split() -> None:
        while len(running) < spread:
            widest = max(running.values(), key=progress.pages_left, default=None)
            if widest is None or progress.pages_left(widest) < SPLIT_MIN_PAGES:
                return
            key, top = widest.key, progress.last[widest.key]
            bottom = max(progress.floor, widest.stop_below or 0)
            middle = bottom + (top - bottom) // 2
            n = 1
            while f"{key}.{n}" in keys_used:
                n += 1
            new = Chain(f"{key}.{n}", widest.state, id_below=middle, stop_below=widest.stop_below)
            keys_used.add(new.key)
            widest = replace(widest, stop_below=middle)
            running[key] = widest
            stops[key] = middle
            if on_split is not None:
                on_split(new, {key: middle})
            logger.info(
                "Full walk: chain %s split at id %s (about %.0f pages left)",
                key,
                middle,
                progress.pages_left(widest),
            )
            start(new)

    for chain in chains:
        start(chain)
    try:
        while running:
            taken = [arrived.get()]
            size = 0 if taken[0][1] in (_DONE, _FAILED) else len(taken[0][1].ids)
            while size < batch_size:  # group commit: everything that has arrived meanwhile
                try:
                    item = arrived.get_nowait()
                except queue.Empty:
                    break
                taken.append(item)
                if item[1] not in (_DONE, _FAILED):
                    size += len(item[1].ids)
            rows: Rows = []
            position: dict[str, tuple[str | None, bool]] = {}
            waiting: list[threading.Event] = []
            finished = False
            for key, page, extra in taken:  # extra: the page's commit event, or the chain's exception
                if page is _DONE:
                    running.pop(key, None)
                    finished = True
                elif page is _FAILED:
                    raise extra
                else:
                    rows.extend(page.rows)
                    position[key] = (page.next_cursor, page.next_cursor is None)
                    waiting.append(extra)
                    progress.saw(key, page)
            if waiting:
                flush(rows, position, len(waiting))
            if finished and spread:
                split()
            for committed in waiting:
                committed.set()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
