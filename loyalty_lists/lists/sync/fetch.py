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

``flush(rows, cursors, pages)`` receives the rows, the cursor position of every chain in this flush
(``(next_cursor, done)``) and how many pages the rows came from.
"""

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from django.utils import timezone

from integrations.smile.errors import SmileApiError
from integrations.smile.types import CustomerData

logger = logging.getLogger(__name__)

PAGE_LIMIT = 250
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


def walk(client, chains: list[Chain], flush: Flush, *, batch_size: int | None = None) -> None:
    if not chains:
        return
    batch_size = batch_size or BATCH_SIZE
    if len(chains) == 1:
        _walk_inline(client, chains[0], flush)
    else:
        _walk_parallel(client, chains, flush, batch_size)


def _pages(client, chain: Chain):
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
        if first and made_up and page.customers and page.customers[0].id >= chain.id_below:
            raise CursorUnsupported("Smile ignored a made-up cursor (it returned ids above it)")
        first = False
        low = chain.stop_below
        if low is not None and page.customers and page.customers[-1].id < low:
            kept = [c for c in page.customers if c.id >= low]
            yield replace(page, customers=kept, next_cursor=None)
            return
        yield page


def _walk_inline(client, chain: Chain, flush: Flush) -> None:
    for page in _pages(client, chain):
        seen_at = timezone.now()
        flush(
            [(c, seen_at) for c in page.customers],
            {chain.key: (page.next_cursor, page.next_cursor is None)},
            1,
        )


def _walk_parallel(client, chains: list[Chain], flush: Flush, batch_size: int) -> None:
    arrived: queue.Queue = queue.Queue()  # at most one page per chain: chains wait for their commit
    stop = threading.Event()

    def produce(chain: Chain) -> None:
        try:
            for page in _pages(client, chain):
                if stop.is_set():
                    return
                committed = threading.Event()
                arrived.put((chain.key, page, timezone.now(), committed))
                while not committed.wait(0.1):
                    if stop.is_set():
                        return
            arrived.put((chain.key, _DONE, None, None))
        except BaseException as exc:  # handed to the writer, which re-raises it
            arrived.put((chain.key, _FAILED, exc, None))

    threads = [
        threading.Thread(target=produce, args=(c,), name=f"smile-chain-{c.key}", daemon=True) for c in chains
    ]
    for thread in threads:
        thread.start()
    active = {c.key for c in chains}
    try:
        while active:
            taken = [arrived.get()]
            size = 0 if taken[0][1] in (_DONE, _FAILED) else len(taken[0][1].customers)
            while size < batch_size:  # group commit: everything that has arrived meanwhile
                try:
                    item = arrived.get_nowait()
                except queue.Empty:
                    break
                taken.append(item)
                if item[1] not in (_DONE, _FAILED):
                    size += len(item[1].customers)
            rows: Rows = []
            position: dict[str, tuple[str | None, bool]] = {}
            waiting: list[threading.Event] = []
            for key, page, seen_at, committed in taken:
                if page is _DONE:
                    active.discard(key)
                elif page is _FAILED:
                    raise seen_at
                else:
                    rows.extend((c, seen_at) for c in page.customers)
                    position[key] = (page.next_cursor, page.next_cursor is None)
                    waiting.append(committed)
            if waiting:
                flush(rows, position, len(waiting))
                for committed in waiting:
                    committed.set()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
