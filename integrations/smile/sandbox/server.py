"""The Smile sandbox HTTP server: stdlib ``ThreadingHTTPServer`` around ``app.App``.

``serve(config)`` opens (or generates) the SQLite store, binds, prints the ready line and serves until
SIGINT/SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .app import VERSION, App
from .config import SandboxConfig
from .web import Request, Response, smile_error

logger = logging.getLogger(__name__)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SmileSandbox/" + VERSION
    sys_version = ""
    disable_nagle_algorithm = True

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(self.command, path, query, headers, body)
        try:
            resp = self.server.app.handle(req)
        except Exception:
            logger.exception("unhandled error on %s %s", self.command, path)
            resp = smile_error(500, "Internal sandbox error.")
        if resp.hang_seconds is not None:
            self.server.app.faults.released.wait(resp.hang_seconds)
            self.close_connection = True
            return
        self._send(resp)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def do_HEAD(self) -> None:
        self._send(smile_error(405, "HEAD is not allowed."), head_only=True)

    def _send(self, resp: Response, head_only: bool = False) -> None:
        try:
            reason = HTTPStatus(resp.status).phrase
        except ValueError:
            reason = ""
        lines = [
            f"HTTP/1.1 {resp.status} {reason}",
            f"Server: {self.server_version}",
            f"Date: {formatdate(usegmt=True)}",
        ]
        if resp.content_type:
            lines.append(f"Content-Type: {resp.content_type}")
        lines.extend(f"{k}: {v}" for k, v in resp.headers)
        if resp.stream is not None:
            lines.append("Transfer-Encoding: chunked")
        else:
            lines.append(f"Content-Length: {len(resp.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if head_only:
            self.wfile.write(head)
        elif resp.stream is None:
            self.wfile.write(head + resp.body)
        else:
            self.wfile.write(head)
            for chunk in resp.stream:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        self.log_request(resp.status)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s %s", self.command, self.path.partition("?")[0])

    def log_request(self, code="-", size="-") -> None:
        logger.debug("%s %s -> %s", self.command, self.path.partition("?")[0], code)


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    app: App

    def __init__(self, cfg: SandboxConfig):
        super().__init__((cfg.host, cfg.port), Handler)


def build(cfg: SandboxConfig) -> SandboxServer:
    """Bind first (a taken port fails fast), then open or generate the data."""
    cfg.validate()
    try:
        server = SandboxServer(cfg)
    except OSError as exc:
        raise SystemExit(f"Smile sandbox cannot listen on {cfg.host}:{cfg.port}: {exc}") from exc
    try:
        server.app = App(cfg)
    except BaseException:
        server.server_close()
        raise
    return server


def serve(cfg: SandboxConfig) -> None:
    """Generate/reuse data, bind, print the ready line and serve until SIGINT/SIGTERM."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    started = time.monotonic()
    server = build(cfg)
    host, port = server.server_address[:2]
    logger.info(
        "data %s in %.1fs (%s)",
        "reused" if server.app.reused else "generated",
        time.monotonic() - started,
        cfg.db,
    )
    fleet = f", {cfg.programs} programs" if cfg.programs > 1 else ""
    what = f"{cfg.customers} customers, seed {cfg.seed}{fleet}"
    print(f"Smile sandbox listening on http://{host}:{port} ({what})", flush=True)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
        server.app.close()
