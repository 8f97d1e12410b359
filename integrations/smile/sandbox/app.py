"""The sandbox application: every part wired together and the request pipeline (no HTTP plumbing).

The /v1 pipeline is: token lookup (which names the program) -> fault injection -> bearer auth (401) ->
rate limit (429) -> route (404/405) -> scope (403) -> handler (400/404/200) -> latency; every /v1
request is logged with its program.
"""

from __future__ import annotations

import math
import time

from .api import Api, route
from .changes import Changes
from .config import SandboxConfig
from .control import Control
from .cursors import Cursors
from .faults import Faults
from .fleet import Fleet
from .oauth import OAuth, has_scope
from .present import Presenter
from .ratelimit import RateLimiter, RequestLog, token_fingerprint
from .store import Store
from .web import Request, Response, json_response, smile_error
from .webhooks import Webhooks

MALFORMED = b'{"customers":[{"id":300000001,"first_name":"Ja\x00ne","email":"jane@exa'
VERSION = "1.1"


class App:
    def __init__(self, cfg: SandboxConfig):
        self.cfg = cfg
        self.store = Store(cfg.db)
        self.fleet = Fleet(cfg, self.store)
        self.reused = self.store.open(self.fleet.describe(1), Fleet.key(cfg))
        self.fleet.stored = self.store.complete_programs()
        self.fleet.get(1)
        self.present = Presenter(cfg, self.store)
        self.api = Api(
            cfg, self.store, self.present, Cursors(bytes.fromhex(self.store.meta["cursor_secret"]))
        )
        self.oauth = OAuth(cfg, self.fleet)
        self.limiter = RateLimiter(cfg.rate_limit)
        self.reqlog = RequestLog(cfg.request_log_size)
        self.faults = Faults()
        self.webhooks = Webhooks(cfg)
        self.control = Control(self)
        self.changes = Changes(self)
        self.started = time.time()

    def health(self) -> dict:
        first = self.fleet.get(1)
        return {
            "ok": True,
            "version": VERSION,
            "customers": self.store.count(first),
            "generated_customers": first.customers,
            "seed": first.seed,
            "program": first.kind,
            "tiers": first.tiers_count,
            "account_id": first.account_id,
            "programs": self.fleet.count,
            "db_reused": self.reused,
            "uptime_seconds": round(time.time() - self.started, 3),
        }

    def notify(self, prog, cids) -> None:
        """Queue a customer/updated webhook for each of prog's customers (when a URL is set)."""
        if not self.webhooks.enabled:
            return
        for cid in cids:
            customer = self.present.webhook_customer(prog, cid)
            if customer is not None:
                self.webhooks.customer_updated(cid, customer, prog.account_id, prog.n)

    def handle(self, req: Request) -> Response:
        path = req.path
        if path.startswith("/_sandbox/"):
            return self.control.handle(req)
        if path.startswith("/v1/") or path == "/v1":
            return self._v1(req)
        fault = self.faults.take(path)
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
            return smile_error(429, "Too many requests.", self._retry_after(1.0))
        if kind == "500":
            return smile_error(500, "Your request could not be completed.")
        return smile_error(503, "Smile is temporarily unavailable.")

    def _retry_after(self, wait: float) -> list[tuple[str, str]]:
        """--retry-after when set; else, with --rate-limit-headers, the seconds until a retry succeeds."""
        if self.cfg.retry_after is not None:
            return [("Retry-After", str(self.cfg.retry_after))]
        if self.cfg.rate_limit_headers:
            return [("Retry-After", str(max(1, math.ceil(wait))))]
        return []

    def _v1(self, req: Request) -> Response:
        ts = time.time()
        auth = req.header("authorization") or ""
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        fingerprint = token_fingerprint(token)
        ident = self.oauth.lookup(token) if token else None
        program = None if ident is None else ident[1]
        fault = self.faults.take(req.path, program)
        resp = self._fault_response(fault) if fault is not None else None
        if resp is None:
            if ident is None:
                resp = smile_error(
                    401, "Invalid credentials: the access token is missing, invalid, expired or revoked."
                )
            else:
                accepted, ts, remaining, wait = self.limiter.check(fingerprint)  # ts: logged below
                resp = self._v1_route(req, ident) if accepted else self._rate_limited(wait)
                if self.cfg.rate_limit_headers and self.cfg.rate_limit > 0:
                    resp.headers += [
                        ("X-RateLimit-Limit", str(self.cfg.rate_limit)),
                        ("X-RateLimit-Remaining", str(remaining)),
                    ]
            if self.cfg.latency_ms:
                time.sleep(self.cfg.latency_ms / 1000)
        self.reqlog.add(ts, fingerprint, req.method, req.path, req.query, resp.status, program)
        return resp

    def _rate_limited(self, wait: float) -> Response:
        message = f"Rate limit exceeded: at most {self.cfg.rate_limit} requests per second per token."
        return smile_error(429, message, self._retry_after(wait))

    def _v1_route(self, req: Request, ident: tuple[frozenset[str], int]) -> Response:
        scopes, program = ident
        found = route(req.path)
        if found is None:
            return smile_error(404, "Not found.")
        endpoint, scope = found
        if req.method != "GET":
            return smile_error(405, f"{req.method} is not allowed here.", [("Allow", "GET")])
        if not has_scope(scopes, scope):
            return smile_error(403, f"The access token is missing the {scope} scope.")
        return self.api.dispatch(endpoint, req, self.fleet.get(program))

    def close(self) -> None:
        self.changes.stop()
        self.faults.clear()
        self.store.close()
