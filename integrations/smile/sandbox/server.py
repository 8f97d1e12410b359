"""The Smile sandbox HTTP server: stdlib ``ThreadingHTTPServer`` + routing for OAuth, /v1 and /_sandbox.

``serve(config)`` opens (or generates) the SQLite store, binds, prints the ready line and serves until
SIGINT/SIGTERM. The /v1 pipeline is: fault injection -> bearer auth (401) -> rate limit (429) ->
route (404/405) -> scope (403) -> handler (400/404/200) -> latency; every /v1 request is logged.
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

from .api import Api, route
from .config import SandboxConfig
from .control import Control
from .faults import Faults
from .oauth import OAuth, has_scope
from .ratelimit import RateLimiter, RequestLog, token_fingerprint
from .store import Store
from .web import Request, Response, json_response, smile_error
from .webhooks import Webhooks

logger = logging.getLogger(__name__)
MALFORMED = b'{"customers":[{"id":300000001,"first_name":"Ja\x00ne","email":"jane@exa'
VERSION = "1.0"


class App:
    def __init__(self, cfg: SandboxConfig):
        self.cfg = cfg
        self.store = Store(cfg.db)
        self.reused = self.store.open(cfg.customers, cfg.seed, cfg.program, cfg.tiers)
        self.api = Api(self.store)
        self.oauth = OAuth(cfg)
        self.limiter = RateLimiter(cfg.rate_limit)
        self.reqlog = RequestLog(cfg.request_log_size)
        self.faults = Faults()
        self.webhooks = Webhooks(cfg)
        self.control = Control(self)
        self.started = time.time()

    def health(self) -> dict:
        meta = self.store.meta
        return {
            "ok": True,
            "version": VERSION,
            "customers": self.store.count(),
            "generated_customers": int(meta["customers"]),
            "seed": int(meta["seed"]),
            "program": meta["program"],
            "tiers": int(meta["tiers"]),
            "account_id": self.cfg.account_id,
            "db_reused": self.reused,
            "uptime_seconds": round(time.time() - self.started, 3),
        }

    def handle(self, req: Request) -> Response:
        path = req.path
        if path.startswith("/_sandbox/"):
            return self.control.handle(req)
        fault = self.faults.take(path)
        if path.startswith("/v1/") or path == "/v1":
            return self._v1(req, fault)
        if fault is not None and (resp := self._fault_response(fault)) is not None:
            return resp
        if path == "/oauth2/authorize":
            if req.method not in ("GET", "POST"):
                return json_response(405, {"error": "invalid_request"}, [("Allow", "GET, POST")])
            return self.oauth.authorize(req)
        if path == "/oauth2/token":
            if req.method != "POST":
                return json_response(
                    405, {"error": "invalid_request", "error_description": "Use POST."}, [("Allow", "POST")]
                )
            return self.oauth.token(req)
        return smile_error(404, "Not found.")

    def _fault_response(self, fault) -> Response | None:
        kind = fault.kind
        if kind == "latency":
            self.faults.released.wait(fault.latency_ms / 1000)
            return None
        if kind == "hang":
            return Response(0, hang_seconds=fault.hang_seconds)
        if kind == "malformed":
            return Response(200, MALFORMED)
        if kind == "429":
            return smile_error(429, "Too many requests.", self._retry_after())
        if kind == "500":
            return smile_error(500, "Your request could not be completed.")
        return smile_error(503, "Smile is temporarily unavailable.")

    def _retry_after(self) -> list[tuple[str, str]]:
        return [] if self.cfg.retry_after is None else [("Retry-After", str(self.cfg.retry_after))]

    def _v1(self, req: Request, fault) -> Response:
        ts = time.time()
        auth = req.header("authorization") or ""
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        fingerprint = token_fingerprint(token)
        resp = self._fault_response(fault) if fault is not None else None
        if resp is None:
            scopes = self.oauth.lookup(token) if token else None
            if scopes is None:
                resp = smile_error(
                    401, "Invalid credentials: the access token is missing, invalid, expired or revoked."
                )
            else:
                accepted, ts = self.limiter.check(fingerprint)  # ts: the decision time, logged below
                resp = self._v1_route(req, scopes) if accepted else self._rate_limited()
            if self.cfg.latency_ms:
                time.sleep(self.cfg.latency_ms / 1000)
        self.reqlog.add(ts, fingerprint, req.method, req.path, req.query, resp.status)
        return resp

    def _rate_limited(self) -> Response:
        message = f"Rate limit exceeded: at most {self.cfg.rate_limit} requests per second per token."
        return smile_error(429, message, self._retry_after())

    def _v1_route(self, req: Request, scopes: frozenset[str]) -> Response:
        found = route(req.path)
        if found is None:
            return smile_error(404, "Not found.")
        endpoint, scope = found
        if req.method != "GET":
            return smile_error(405, f"{req.method} is not allowed here.", [("Allow", "GET")])
        if not has_scope(scopes, scope):
            return smile_error(403, f"The access token is missing the {scope} scope.")
        return self.api.dispatch(endpoint, req)


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
    print(
        f"Smile sandbox listening on http://{host}:{port} ({cfg.customers} customers, seed {cfg.seed})",
        flush=True,
    )

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
        server.app.faults.clear()
        server.app.store.close()
