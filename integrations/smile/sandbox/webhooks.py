"""Signed webhook deliveries (``ping`` and ``customer/updated``) from a background thread.

Body: ``{"account_id": N, "topic": "...", "data": {...}}`` (N: the program's account id, always sent,
also with ``--no-account-id``, as Smile documents it); the signature header (name and
base64/hex encoding configurable) is HMAC-SHA256 of the raw body keyed with the client secret.
One worker thread delivers in queue order; there are no automatic retries (Smile documents none).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict, deque

logger = logging.getLogger(__name__)
TIMEOUT = 5.0
HISTORY = 20_000  # customers whose last two bodies are kept for "previous" re-sends (most recent first)


def sign(body: bytes, secret: str, encoding: str) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()


class Webhooks:
    def __init__(self, cfg):
        self.cfg = cfg
        self._queue: queue.Queue = queue.Queue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.deliveries: deque[dict] = deque(maxlen=10_000)
        self._history: OrderedDict[int, deque[bytes]] = OrderedDict()  # customer id -> last bodies sent
        self._thread = threading.Thread(target=self._run, name="smile-sandbox-webhooks", daemon=True)
        self._thread.start()

    @property
    def enabled(self) -> bool:
        return bool(self.cfg.webhook_url)

    @staticmethod
    def customer_body(customer_json: str, account_id: int) -> bytes:
        return (
            f'{{"account_id":{account_id},"topic":"customer/updated","data":{{"customer":{customer_json}}}}}'
        ).encode()

    def customer_updated(
        self,
        cid: int,
        customer_json: str,
        account_id: int,
        program: int = 1,
        *,
        duplicate: bool = False,
        previous: bool = False,
    ) -> list[int]:
        """Queue a customer/updated delivery (twice with ``duplicate``). ``previous`` re-sends the
        body sent before the latest one, i.e. a stale snapshot arriving out of order."""
        if not self.enabled:
            return []
        with self._lock:
            history = self._history.setdefault(cid, deque(maxlen=2))
            self._history.move_to_end(cid)
            if len(self._history) > HISTORY:
                self._history.popitem(last=False)
            if previous:
                if len(history) < 2:
                    raise LookupError("no earlier webhook was sent for this customer")
                body = history[0]
            else:
                body = self.customer_body(customer_json, account_id)
                if not history or history[-1] != body:
                    history.append(body)
        return [
            self._enqueue("customer/updated", body, cid, n > 0, program) for n in range(2 if duplicate else 1)
        ]

    def ping(self, account_id: int, program: int = 1) -> int | None:
        if not self.enabled:
            return None
        body = f'{{"account_id":{account_id},"topic":"ping","data":{{}}}}'.encode()
        return self._enqueue("ping", body, None, False, program)

    def _enqueue(self, topic: str, body: bytes, cid: int | None, duplicate: bool, program: int) -> int:
        delivery_id = next(self._ids)
        self._queue.put((delivery_id, topic, body, cid, duplicate, self.cfg.webhook_url, program))
        return delivery_id

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def list(self, program: int | None = None) -> list[dict]:
        with self._lock:
            return [d for d in self.deliveries if program in (None, d["program"])]

    def clear(self) -> None:
        with self._lock:
            self.deliveries.clear()

    def _run(self) -> None:
        while True:
            delivery_id, topic, body, cid, duplicate, url, program = self._queue.get()
            try:
                self._deliver(delivery_id, topic, body, cid, duplicate, url, program)
            except Exception:  # never let the worker die
                logger.exception("webhook worker failed")
            finally:
                self._queue.task_done()

    def _deliver(self, delivery_id, topic, body, cid, duplicate, url, program) -> None:
        if not url.startswith(("http://", "https://")):  # also guards URLs set at runtime
            raise ValueError(f"webhook URL must be http(s): {url!r}")
        signature = sign(body, self.cfg.client_secret, self.cfg.webhook_encoding)
        request = urllib.request.Request(  # noqa: S310 - http(s) URL from our own config
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Smile-Sandbox-Webhooks/1.0",
                self.cfg.webhook_header: signature,
            },
        )
        status, error = None, None
        started = time.time()
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:  # noqa: S310  # nosec B310 - http(s) only, checked in _deliver
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            error = str(getattr(exc, "reason", exc))
        record = {
            "id": delivery_id,
            "ts": started,
            "topic": topic,
            "customer_id": cid,
            "program": program,
            "url": url,
            "status": status,
            "error": error,
            "duplicate": duplicate,
            "duration_ms": round((time.time() - started) * 1000, 1),
        }
        with self._lock:
            self.deliveries.append(record)
        logger.info("webhook %s %s -> %s", topic, delivery_id, status or error)
