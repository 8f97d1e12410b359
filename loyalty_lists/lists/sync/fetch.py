"""Customer pages from Smile into snapshot writes: parallel cursor chains, one writer, exact checkpoints.

* A *chain* is one cursor walk over ``GET /customers``: per ``state``, per id range, or one unfiltered
  ``updated_at_min`` walk (a delta). Chains fetch in threads; the calling thread is the only writer.
* A chain asks for its next page only after its previous page is committed with its new cursor, so a
  killed worker refetches at most one page a chain. The writer commits every page that has arrived in one
  transaction (group commit). Memory: one page a chain.
* **Id-range chains** start from a cursor we make (``client.cursor_before``) — behaviour no Smile document
  promises, so it is used only on connections where it was verified (``integrations/smile/capabilities.py``)
  and checked again on every such chain's first page: *any* failure there (an error of any kind, ids at
  or above the bound, ids out of order) raises ``CursorUnsupported`` and the caller walks the documented
  way (Smile's own cursors, per state).
* **Splitting** (``spread=N``, id-range capable connections only): when a chain finishes while fewer
  than N run, the chain with the most left is cut in the middle of what it has left and a new chain
  takes the lower half. ``on_split`` tells the caller before the new chain starts (its checkpoint holds
  it from the next commit); ``keys_taken`` are checkpoint keys a new chain must not reuse.
* ``flush(batch)`` gets a ``Batch``: ``(customer, seen_at)`` rows, each chain's cursor position
  (``(next_cursor, done)``), the number of pages, and the page's quarantined records (malformed ones
  the client set aside: ``types.Quarantined``).
"""

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.utils import timezone

from integrations.smile.errors import SmileAuthError, SmileError
from integrations.smile.types import CustomerData, Quarantined

logger = logging.getLogger(__name__)

PAGE_LIMIT = 250
SAFETY_OVERLAP = timedelta(minutes=5)  # deltas ask for customers updated since the watermark minus this
BATCH_SIZE = 4000  # the most rows one group commit takes (pages are committed together when they queue up)
_DONE = object()
_FAILED = object()


class CursorUnsupported(Exception):
    """Smile did not honour a made-up cursor: walk the documented way (Smile's own cursors, per state)."""


@dataclass(frozen=True)
class Chain:
    key: str  # checkpoint key: the state, the id range, or "all"
    state: str | None = None
    updated_at_min: datetime | None = None
    start_cursor: str | None = None  # where a resumed chain continues (a cursor Smile gave us)
    id_below: int | None = None  # id-range chain: starts below this id (a made-up cursor) ...
    stop_below: int | None = None  # ... and ends at its first customer below this id


Rows = list[tuple[CustomerData, datetime]]


@dataclass
class Batch:
    rows: Rows
    position: dict[str, tuple[str | None, bool]]  # chain key -> (next cursor, done)
    pages: int
    quarantined: list[Quarantined]


Flush = Callable[[Batch], None]


SPLIT_MIN_PAGES = 6  # split a chain only when it has about this many pages left
MADE_UP_ATTEMPTS = 2  # a made-up cursor's first page: its failure is an answer (see CursorUnsupported)


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
    quarantined: list[Quarantined]


def _pages(client, chain: Chain, stops: dict[str, int] | None = None):
    """The chain's pages; an id-range chain ends at its first customer below its (current) stop."""
    start = chain.start_cursor
    made_up = start is None and chain.id_below is not None
    if made_up:
        start = client.cursor_before(chain.id_below)
    pages = client.iter_customer_pages(
        state=chain.state,
        updated_at_min=chain.updated_at_min,
        start_cursor=start,
        limit=PAGE_LIMIT,
        **({"first_attempts": MADE_UP_ATTEMPTS} if made_up else {}),
    )
    first = True
    while True:
        try:
            page = next(pages)
        except StopIteration:
            return
        except SmileAuthError:
            raise  # the connection's problem, not the cursor's
        except SmileError as exc:  # any failure of a cursor we made up: Smile does not take them
            if made_up and first:
                raise CursorUnsupported(f"Smile did not take a made-up cursor: {exc}") from exc
            raise
        customers = page.customers
        ids = [c.id for c in customers]
        if first and made_up and ids and (ids[0] >= chain.id_below or ids != sorted(ids, reverse=True)):
            raise CursorUnsupported("Smile read a made-up cursor differently (ids above it, or out of order)")
        first = False
        seen_at = timezone.now()
        low = chain.stop_below if stops is None else stops.get(chain.key, chain.stop_below)
        if low is not None and ids and ids[-1] < low:  # the chain ends within this page
            kept = sum(1 for i in ids if i >= low)
            quarantined = [q for q in page.quarantined if q.id is None or q.id >= low]
            yield _Page(ids[:kept], [(c, seen_at) for c in customers[:kept]], None, quarantined)
            return
        yield _Page(ids, [(c, seen_at) for c in customers], page.next_cursor, page.quarantined)


def _walk_inline(client, chain: Chain, flush: Flush) -> None:
    for page in _pages(client, chain):
        flush(
            Batch(page.rows, {chain.key: (page.next_cursor, page.next_cursor is None)}, 1, page.quarantined)
        )


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
            batch = Batch([], {}, 0, [])
            waiting: list[threading.Event] = []
            finished = False
            for key, page, extra in taken:  # extra: the page's commit event, or the chain's exception
                if page is _DONE:
                    running.pop(key, None)
                    finished = True
                elif page is _FAILED:
                    raise extra
                else:
                    batch.rows.extend(page.rows)
                    batch.quarantined.extend(page.quarantined)
                    batch.position[key] = (page.next_cursor, page.next_cursor is None)
                    waiting.append(extra)
                    progress.saw(key, page)
            if waiting:
                batch.pages = len(waiting)
                flush(batch)
            if finished and spread:
                split()
            for committed in waiting:
                committed.set()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
