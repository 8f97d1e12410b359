"""One delivery over HTTP, signed per Standard Webhooks with the ``standardwebhooks`` package.

Headers: ``webhook-id`` (the delivery's message id: the same on every retry and replay, so receivers
deduplicate), ``webhook-timestamp`` (this attempt, Unix seconds) and ``webhook-signature`` (``v1,<sig>``,
one per current secret, space-separated). The body is the delivery's frozen JSON. The destination is
checked before each attempt and connected to by the address checked (``ssrf.py``); redirects are not
followed; only the first ``EXCERPT_BYTES`` of the answer are read.
"""

import time
from dataclasses import dataclass
from datetime import datetime

import httpx
from standardwebhooks.webhooks import Webhook

from .ssrf import UnsafeDestination, destination_check

EXCERPT_BYTES = 500
USER_AGENT = "SmileLoyaltyLists-Webhooks/1"


@dataclass
class Outcome:
    status_code: int | None = None
    latency_ms: int | None = None
    error: str = ""
    excerpt: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signature(*, secrets: list[str], message_id: str, at: datetime, body: bytes) -> str:
    return " ".join(Webhook(secret).sign(msg_id=message_id, timestamp=at, data=body) for secret in secrets)


def _excerpt(raw: bytes) -> str:
    text = raw[:EXCERPT_BYTES].decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)


def deliver(
    client: httpx.Client, *, url: str, message_id: str, body: bytes, secrets: list[str], at: datetime
) -> Outcome:
    """POST ``body`` to ``url``; never raises for what the network or the receiver does."""
    try:
        destination = destination_check(url)
    except UnsafeDestination as exc:
        return Outcome(error=f"Refused: {exc}"[:300])
    target, extra = destination.pinned
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature(secrets=secrets, message_id=message_id, at=at, body=body),
        **extra,
    }
    extensions = {"sni_hostname": destination.host} if extra and target.startswith("https:") else {}
    started = time.monotonic()
    try:
        with client.stream("POST", target, content=body, headers=headers, extensions=extensions) as answer:
            raw = b""
            for chunk in answer.iter_bytes():
                raw += chunk
                if len(raw) >= EXCERPT_BYTES:
                    break
            return Outcome(
                status_code=answer.status_code,
                latency_ms=round((time.monotonic() - started) * 1000),
                excerpt=_excerpt(raw),
            )
    except httpx.TimeoutException:
        return Outcome(latency_ms=round((time.monotonic() - started) * 1000), error="Timed out.")
    except httpx.HTTPError as exc:
        return Outcome(
            latency_ms=round((time.monotonic() - started) * 1000),
            error=f"{type(exc).__name__}: {exc}"[:300],
        )
