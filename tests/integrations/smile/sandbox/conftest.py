"""Fixtures for the sandbox's own tests (the sandbox fixtures come from tests/fixtures/sandbox.py)."""

import http.server
import threading

import pytest

CONTROL = {"X-Sandbox-Control": "sandbox-control"}
# Every mode's default (PATCH /_sandbox/settings puts a shared sandbox back with these).
DEFAULT_MODES = {
    "rate_limit": 0,
    "cursor_mode": "keyset",
    "no_account_id": False,
    "vip_tiers_status": 200,
    "tier_delete_bumps_updated_at": True,
    "tier_delete_webhooks": True,
    "token_auth": "both",
    "updated_at_min": "inclusive",
    "rate_limit_headers": False,
    "webhook_vip_status": True,
    "change_rate": None,
}


@pytest.fixture(scope="module")
def sandbox_token(smile_sandbox) -> str:
    return smile_sandbox.issue_token()["access_token"]


@pytest.fixture
def sandbox_api(smile_sandbox, sandbox_token):
    with smile_sandbox.api_client(sandbox_token) as client:
        yield client


class Receiver:
    """A tiny local webhook endpoint: records (headers, raw body); answers ``status`` after ``delay``."""

    def __init__(self):
        self.received: list[tuple[dict, bytes]] = []
        self.status = 200
        self.delay = 0.0
        self.event = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.delay:
                    threading.Event().wait(receiver.delay)
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.event.set()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/smile"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def reset(self) -> None:
        self.received.clear()
        self.event.clear()
        self.status, self.delay = 200, 0.0

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[dict, bytes]]:
        deadline = threading.Event()
        waited = 0.0
        while len(self.received) < count and waited < timeout:
            deadline.wait(0.02)
            waited += 0.02
        assert len(self.received) >= count, f"expected {count} webhooks, got {len(self.received)}"
        return self.received

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()
