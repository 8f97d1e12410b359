"""The sandbox-only control API under /_sandbox (header ``X-Sandbox-Control: <control token>``).

JSON in, JSON out. Used by tests, benchmarks and failure drills to change data, inject faults,
revoke tokens, read the request log and the ground truth, and trigger webhooks.

``X-Sandbox-Program: n`` picks the program a call is about. Calls about data (customers, tiers, corrupt,
export, reset, webhooks send / ping) default to program 1; calls about traffic (faults, tokens,
the request log, webhook deliveries) default to every program, and with the header only touch that
program's. Settings and health are global.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import re

from . import mutations, writes
from .config import PROGRAMS
from .faults import FaultError
from .fleet import Program
from .web import Request, Response, json_response, smile_error

logger = logging.getLogger(__name__)
CUSTOMER_RE = re.compile(r"/_sandbox/customers/(\d{1,19})")
CORRUPT_RE = re.compile(r"/_sandbox/customers/(\d{1,19})/corrupt")
TIER_RE = re.compile(r"/_sandbox/vip_tiers/(\d{1,19})")
SETTINGS = {
    "rate_limit": int,
    "latency_ms": int,
    "retry_after": int,
    "token_ttl": int,
    "code_ttl": int,
    "webhook_url": str,
    "webhook_header": str,
    "webhook_encoding": str,
    "cursor_mode": str,
    "no_account_id": bool,
    "vip_tiers_status": int,
    "tier_delete_bumps_updated_at": bool,
    "tier_delete_webhooks": bool,
    "token_auth": str,
    "updated_at_min": str,
    "rate_limit_headers": bool,
    "webhook_vip_status": bool,
    "change_rate": str,
}
NULLABLE = ("retry_after", "webhook_url", "change_rate")


class Control:
    def __init__(self, app):
        self.app = app
        self.cfg = app.cfg
        self.store = app.store
        self.fleet = app.fleet
        self.present = app.present

    def handle(self, req: Request) -> Response:
        path, method = req.path.rstrip("/") or "/", req.method
        if path == "/_sandbox/health" and method == "GET":
            return json_response(200, self.app.health())
        sent = (req.header("x-sandbox-control") or "").encode()
        if not hmac.compare_digest(sent, self.cfg.control_token.encode()):
            return smile_error(401, "Missing or wrong X-Sandbox-Control header.")
        raw = req.header("x-sandbox-program")
        if raw is not None and not (raw.isdigit() and self.fleet.exists(int(raw))):
            return smile_error(
                404, f"No program {raw!r}: this sandbox serves programs 1 to {self.fleet.count}."
            )
        named = None if raw is None else int(raw)
        try:
            body = req.json() if method in ("POST", "PATCH", "PUT") else {}
        except ValueError:
            return smile_error(400, "The body must be a JSON object.")
        try:
            return self._route(path, method, req, body, named)
        except mutations.MutationError as exc:
            return smile_error(exc.status, str(exc))
        except (FaultError, LookupError) as exc:
            return smile_error(422, str(exc))

    def _route(self, path: str, method: str, req: Request, body: dict, named: int | None) -> Response:
        prog = self.fleet.get(named or 1) if _about_data(path) else None
        if m := CORRUPT_RE.fullmatch(path):
            return self._corrupt(prog, int(m.group(1)), method, body)
        if m := CUSTOMER_RE.fullmatch(path):
            return self._customer(prog, int(m.group(1)), method, body)
        if m := TIER_RE.fullmatch(path):
            return self._tier(prog, int(m.group(1)), method, body)
        app = self.app
        routes = {
            ("/_sandbox/customers", "POST"): lambda: self._create_customer(prog, body),
            ("/_sandbox/vip_tiers", "POST"): lambda: json_response(
                201, {"vip_tier": mutations.tier_public(mutations.create_tier(self.store, prog, body))}
            ),
            ("/_sandbox/vip_tiers", "GET"): lambda: json_response(
                200, {"vip_tiers": [mutations.tier_public(t) for t in prog.tiers]}
            ),
            ("/_sandbox/faults", "POST"): lambda: json_response(
                201, {"fault": app.faults.add(body, named).public()}
            ),
            ("/_sandbox/faults", "GET"): lambda: json_response(200, {"faults": app.faults.active()}),
            ("/_sandbox/faults", "DELETE"): self._clear_faults,
            ("/_sandbox/tokens/revoke", "POST"): lambda: json_response(
                200, {"revoked": app.oauth.revoke(body.get("token"), named)}
            ),
            ("/_sandbox/tokens/expire", "POST"): lambda: json_response(
                200, {"expired": app.oauth.expire_all(named)}
            ),
            ("/_sandbox/requests", "GET"): lambda: self._requests(req, named),
            ("/_sandbox/requests", "DELETE"): lambda: self._clear_requests(named),
            ("/_sandbox/export", "GET"): lambda: self._export(req, prog),
            ("/_sandbox/reset", "POST"): lambda: self._reset(prog, body),
            ("/_sandbox/settings", "GET"): lambda: json_response(200, self._settings_now()),
            ("/_sandbox/settings", "PATCH"): lambda: self._settings(body),
            ("/_sandbox/programs", "GET"): lambda: json_response(200, {"programs": self.fleet.list()}),
            ("/_sandbox/webhooks/send", "POST"): lambda: self._send_webhook(prog, body),
            ("/_sandbox/webhooks/ping", "POST"): lambda: self._ping(prog),
            ("/_sandbox/webhooks/deliveries", "GET"): lambda: self._deliveries(req, named),
            ("/_sandbox/webhooks/deliveries", "DELETE"): self._clear_deliveries,
        }
        handler = routes.get((path, method))
        if handler is None:
            known = {p for p, _ in routes}
            return smile_error(405 if path in known else 404, f"No control endpoint {method} {path}.")
        return handler()

    # ---- customers & tiers -----------------------------------------------------------------
    def _customer_response(self, prog: Program, cid: int, status: int) -> Response:
        return Response(status, f'{{"customer":{self.present.customer_json(prog, cid)}}}'.encode())

    def _create_customer(self, prog: Program, body: dict) -> Response:
        cid = mutations.create_customer(self.store, prog, body)
        self.app.notify(prog, [cid])
        return self._customer_response(prog, cid, 201)

    def _customer(self, prog: Program, cid: int, method: str, body: dict) -> Response:
        if method == "GET":
            if self.store.get_row(prog, cid) is None:
                return smile_error(404, "Customer not found.")
            return self._customer_response(prog, cid, 200)
        if method == "PATCH":
            if not mutations.patch_customer(self.store, prog, cid, body):
                return smile_error(404, "Customer not found.")
            self.app.notify(prog, [cid])
            return self._customer_response(prog, cid, 200)
        if method == "DELETE":
            if not writes.delete_customer(self.store, prog, cid):
                return smile_error(404, "Customer not found.")
            return json_response(200, {"deleted": cid})
        return smile_error(405, "Use GET, PATCH or DELETE.")

    def _corrupt(self, prog: Program, cid: int, method: str, body: dict) -> Response:
        if method == "POST":
            done = mutations.corrupt_customer(self.store, prog, cid, body)
        elif method == "DELETE":
            done = mutations.repair_customer(self.store, prog, cid)
        else:
            return smile_error(405, "Use POST or DELETE.")
        if not done:
            return smile_error(404, "Customer not found.")
        self.app.notify(prog, [cid])
        return self._customer_response(prog, cid, 200)

    def _tier(self, prog: Program, tier_id: int, method: str, body: dict) -> Response:
        if method == "PATCH":
            tier = mutations.patch_tier(self.store, prog, tier_id, body)
            if tier is None:
                return smile_error(404, "VIP tier not found.")
            return json_response(200, {"vip_tier": mutations.tier_public(tier)})
        if method == "DELETE":
            moved = writes.delete_tier(self.store, prog, tier_id, self.cfg.tier_delete_bumps_updated_at)
            if moved is None:
                return smile_error(404, "VIP tier not found.")
            if self.cfg.tier_delete_webhooks:
                self.app.notify(prog, moved)
            return json_response(200, {"deleted": tier_id, "customers_moved": len(moved)})
        return smile_error(405, "Use PATCH or DELETE.")

    # ---- faults, logs, settings ------------------------------------------------------------
    def _clear_faults(self) -> Response:
        self.app.faults.clear()
        return json_response(200, {"faults": []})

    def _requests(self, req: Request, named: int | None) -> Response:
        params = req.params()
        try:
            since = float(params["since"]) if params.get("since") else None
            limit = int(params["limit"]) if params.get("limit") else None
        except ValueError:
            return smile_error(400, "since must be an epoch float and limit an integer.")
        return json_response(200, {"requests": self.app.reqlog.since(since, limit, named)})

    def _clear_requests(self, named: int | None) -> Response:
        self.app.reqlog.clear(named)
        return json_response(200, {"requests": []})

    def _settings_now(self) -> dict:
        return {k: getattr(self.cfg, k) for k in SETTINGS}

    def _settings(self, body: dict) -> Response:
        unknown = set(body) - set(SETTINGS)
        if unknown:
            return smile_error(422, f"Unknown setting(s): {', '.join(sorted(unknown))}.")
        for key, value in body.items():
            wanted = SETTINGS[key]
            if value is None and key in NULLABLE:
                continue
            if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
                return smile_error(422, f"{key} has the wrong type.")
        try:
            dataclasses.replace(self.cfg, **body).validate()
        except ValueError as exc:
            return smile_error(422, str(exc))
        for key, value in body.items():
            setattr(self.cfg, key, value)
        self.app.limiter.limit = self.cfg.rate_limit
        return json_response(200, self._settings_now())

    # ---- ground truth & reset --------------------------------------------------------------
    def _export(self, req: Request, prog: Program) -> Response:
        tiers = [mutations.tier_public(t) for t in self.present.vip_tiers(prog)]
        raw = self.present.raw
        if req.params().get("format") == "ndjson":

            def lines():
                for t in tiers:
                    yield (json.dumps({"type": "vip_tier", **t}) + "\n").encode()
                for row in self.store.export_rows(prog):
                    yield (
                        json.dumps({"type": "customer", **raw(prog, row)}, ensure_ascii=False) + "\n"
                    ).encode()

            return Response(200, b"", "application/x-ndjson", stream=lines())
        customers = [raw(prog, row) for row in self.store.export_rows(prog)]
        meta = self.app.health() | {"program_id": prog.n, "account_id": prog.account_id}
        if prog.n != 1:
            meta |= {"generated_customers": prog.customers, "customers": len(customers), "seed": prog.seed}
        return json_response(200, {"meta": meta, "vip_tiers": tiers, "customers": customers})

    def _reset(self, prog: Program, body: dict) -> Response:
        try:
            customers = int(body.get("customers", prog.customers))
            seed = int(body.get("seed", prog.seed))
        except (TypeError, ValueError):
            return smile_error(422, "customers and seed must be integers.")
        kind, tiers = body.get("program", prog.kind), body.get("tiers", prog.tiers_count)
        if kind not in PROGRAMS or tiers not in (3, 4) or customers < 0:
            return smile_error(422, "program must be calendar|lifetime, tiers 3|4, customers >= 0.")
        with prog.lock:
            prog.customers, prog.seed, prog.kind, prog.tiers_count = customers, seed, kind, tiers
            self.store.regenerate(prog)
        if prog.n == 1:
            self.cfg.customers, self.cfg.seed, self.cfg.program, self.cfg.tiers = customers, seed, kind, tiers
        return json_response(200, self.app.health() if prog.n == 1 else prog.public())

    # ---- webhooks --------------------------------------------------------------------------
    def _send_webhook(self, prog: Program, body: dict) -> Response:
        if not self.app.webhooks.enabled:
            return smile_error(409, "No webhook URL configured (--webhook-url).")
        cid = body.get("customer_id")
        customer = self.present.webhook_customer(prog, cid) if isinstance(cid, int) else None
        if customer is None and not body.get("previous"):
            return smile_error(404, "Customer not found.")
        ids = self.app.webhooks.customer_updated(
            cid,
            customer or "",
            prog.account_id,
            prog.n,
            duplicate=bool(body.get("duplicate")),
            previous=bool(body.get("previous")),
        )
        return json_response(202, {"queued": ids})

    def _ping(self, prog: Program) -> Response:
        if not self.app.webhooks.enabled:
            return smile_error(409, "No webhook URL configured (--webhook-url).")
        return json_response(202, {"queued": [self.app.webhooks.ping(prog.account_id, prog.n)]})

    def _deliveries(self, req: Request, named: int | None) -> Response:
        try:
            wait = min(float(req.params().get("wait") or 0), 30.0)
        except ValueError:
            return smile_error(400, "wait must be a number of seconds.")
        if wait > 0:
            self.app.webhooks.wait_idle(wait)
        return json_response(200, {"deliveries": self.app.webhooks.list(named)})

    def _clear_deliveries(self) -> Response:
        self.app.webhooks.clear()
        return json_response(200, {"deliveries": []})


DATA_PATHS = ("/_sandbox/customers", "/_sandbox/vip_tiers", "/_sandbox/export", "/_sandbox/reset")


def _about_data(path: str) -> bool:
    """Whether a control path is about one program's data (default program 1) rather than traffic."""
    return path.startswith(DATA_PATHS) or path in ("/_sandbox/webhooks/send", "/_sandbox/webhooks/ping")
