"""Streaming customer pages from Smile into batched snapshot writes, with flat memory.

One *chain* is one cursor walk (``GET /customers?state=...``). Several chains (a full walk runs one
per ``state``) fetch in parallel threads into one bounded queue; the calling thread is the only
writer (SQLite has one writer anyway) and flushes a batch every ``batch_size`` customers. Memory is
bounded by the queue size and the batch, whatever the program's size. Producers never touch the
database; the client is thread-safe and shares one rate-limit budget, so parallel chains keep several
requests in flight under real latency without exceeding 10 req/s.

``flush(rows, cursors, pages)`` receives the batch, the cursor position of every chain *after* the
last page in the batch (``(next_cursor, done)``), and how many pages the batch holds; the cycle
writes the rows and the checkpoint in one transaction, so a resumed walk never skips a page it did
not store.
"""

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from integrations.smile.types import CustomerData

logger = logging.getLogger(__name__)

PAGE_LIMIT = 250
BATCH_SIZE = 2000
QUEUE_PAGES = 16
_DONE = object()
_FAILED = object()


@dataclass(frozen=True)
class Chain:
    key: str  # checkpoint key: the state, or "all"
    state: str | None = None
    updated_at_min: datetime | None = None
    start_cursor: str | None = None


Rows = list[tuple[CustomerData, datetime]]
Flush = Callable[[Rows, dict[str, tuple[str | None, bool]], int], None]


def walk(client, chains: list[Chain], flush: Flush, *, batch_size: int | None = None) -> None:
    if not chains:
        return
    batch_size = batch_size or BATCH_SIZE
    if len(chains) == 1:
        _walk_inline(client, chains[0], flush, batch_size)
    else:
        _walk_parallel(client, chains, flush, batch_size)


def _pages(client, chain: Chain):
    return client.iter_customer_pages(
        state=chain.state,
        updated_at_min=chain.updated_at_min,
        start_cursor=chain.start_cursor,
        limit=PAGE_LIMIT,
    )


def _walk_inline(client, chain: Chain, flush: Flush, batch_size: int) -> None:
    batch: Rows = []
    position: dict[str, tuple[str | None, bool]] = {}
    pages = 0
    for page in _pages(client, chain):
        seen_at = timezone.now()
        batch.extend((c, seen_at) for c in page.customers)
        position[chain.key] = (page.next_cursor, page.next_cursor is None)
        pages += 1
        if len(batch) >= batch_size:
            flush(batch, dict(position), pages)
            batch, pages = [], 0
    if batch or pages:
        flush(batch, dict(position), pages)


def _walk_parallel(client, chains: list[Chain], flush: Flush, batch_size: int) -> None:
    pages_queue: queue.Queue = queue.Queue(maxsize=QUEUE_PAGES)
    stop = threading.Event()

    def put(item) -> None:
        while not stop.is_set():
            try:
                pages_queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def produce(chain: Chain) -> None:
        try:
            for page in _pages(client, chain):
                if stop.is_set():
                    return
                put((chain.key, page, timezone.now()))
            put((chain.key, _DONE, None))
        except BaseException as exc:  # handed to the writer, which re-raises it
            put((chain.key, _FAILED, exc))

    threads = [
        threading.Thread(target=produce, args=(c,), name=f"smile-chain-{c.key}", daemon=True) for c in chains
    ]
    for thread in threads:
        thread.start()
    batch: Rows = []
    position: dict[str, tuple[str | None, bool]] = {}
    pages = 0
    active = {c.key for c in chains}
    try:
        while active:
            key, page, seen_at = pages_queue.get()
            if page is _DONE:
                active.discard(key)
                continue
            if page is _FAILED:
                raise seen_at
            batch.extend((c, seen_at) for c in page.customers)
            position[key] = (page.next_cursor, page.next_cursor is None)
            pages += 1
            if len(batch) >= batch_size:
                flush(batch, dict(position), pages)
                batch, pages = [], 0
        if batch or pages:
            flush(batch, dict(position), pages)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
