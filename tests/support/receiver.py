"""A real local HTTP receiver for webhook deliveries (a thread running ``http.server``): it records every
request and answers as told — 200, another status, or after a delay (to time the sender out)."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


@dataclass
class Received:
    headers: dict
    body: bytes
    at: float
    status: int

    @property
    def message_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    status: int = 200
    delay: float = 0.0
    requests: list = field(default_factory=list)

    def __post_init__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, delay = receiver.status, receiver.delay
                if delay:
                    time.sleep(delay)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(Received(headers, body, time.time(), status))
                try:
                    self.send_response(status)
                    self.send_header("content-type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"ok" if status < 300 else f"nope {status}".encode())
                except OSError:  # the sender gave up (timed out) first
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def accepted(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    def verified(self, secret: str) -> list[dict]:
        """Every accepted delivery's payload, verified with ``standardwebhooks`` (raises if one fails)."""
        hook = Webhook(secret)
        return [hook.verify(r.body, r.headers) for r in self.accepted()]

    def events(self, secret: str) -> list[dict]:
        """The events of every accepted delivery, each delivery once (by webhook-id), in sequence order."""
        seen, payloads = set(), []
        for request, payload in zip(self.accepted(), self.verified(secret), strict=True):
            if request.message_id in seen:
                continue
            seen.add(request.message_id)
            payloads.append(payload)
        payloads.sort(key=lambda p: p["data"]["sequence"])
        return [event for p in payloads for event in p["data"]["events"]]
