"""The sandbox-only control API under /_sandbox (header ``X-Sandbox-Control: <control token>``).

JSON in, JSON out. Used by tests, benchmarks and failure drills to change data, inject faults,
revoke tokens, read the request log and the ground truth, and trigger webhooks.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import logging
import re

from . import mutations
from .faults import FaultError
from .render import iso_ms
from .web import Request, Response, json_response, smile_error

logger = logging.getLogger(__name__)
CUSTOMER_RE = re.compile(r"/_sandbox/customers/(\d{1,19})")
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
}


class Control:
    def __init__(self, app):
        self.app = app
        self.cfg = app.cfg
        self.store = app.store

    def handle(self, req: Request) -> Response:
        path, method = req.path.rstrip("/") or "/", req.method
        if path == "/_sandbox/health" and method == "GET":
            return json_response(200, self.app.health())
        sent = (req.header("x-sandbox-control") or "").encode()
        if not hmac.compare_digest(sent, self.cfg.control_token.encode()):
            return smile_error(401, "Missing or wrong X-Sandbox-Control header.")
        try:
            body = req.json() if method in ("POST", "PATCH", "PUT") else {}
        except ValueError:
            return smile_error(400, "The body must be a JSON object.")
        try:
            return self._route(path, method, req, body)
        except mutations.MutationError as exc:
            return smile_error(exc.status, str(exc))
        except (FaultError, LookupError) as exc:
            return smile_error(422, str(exc))

    def _route(self, path: str, method: str, req: Request, body: dict) -> Response:
        if m := CUSTOMER_RE.fullmatch(path):
            return self._customer(int(m.group(1)), method, body)
        if m := TIER_RE.fullmatch(path):
            return self._tier(int(m.group(1)), method, body)
        routes = {
            ("/_sandbox/customers", "POST"): self._create_customer,
            ("/_sandbox/vip_tiers", "POST"): self._create_tier,
            ("/_sandbox/vip_tiers", "GET"): lambda b: json_response(
                200, {"vip_tiers": [mutations.tier_public(t) for t in self.store.tiers]}
            ),
            ("/_sandbox/faults", "POST"): lambda b: json_response(
                201, {"fault": self.app.faults.add(b).public()}
            ),
            ("/_sandbox/faults", "GET"): lambda b: json_response(200, {"faults": self.app.faults.active()}),
            ("/_sandbox/faults", "DELETE"): self._clear_faults,
            ("/_sandbox/tokens/revoke", "POST"): lambda b: json_response(
                200, {"revoked": self.app.oauth.revoke(b.get("token"))}
            ),
            ("/_sandbox/tokens/expire", "POST"): lambda b: json_response(
                200, {"expired": self.app.oauth.expire_all()}
            ),
            ("/_sandbox/requests", "GET"): lambda b: self._requests(req),
            ("/_sandbox/requests", "DELETE"): self._clear_requests,
            ("/_sandbox/export", "GET"): lambda b: self._export(req),
            ("/_sandbox/reset", "POST"): self._reset,
            ("/_sandbox/settings", "PATCH"): self._settings,
            ("/_sandbox/webhooks/send", "POST"): self._send_webhook,
            ("/_sandbox/webhooks/ping", "POST"): self._ping,
            ("/_sandbox/webhooks/deliveries", "GET"): lambda b: self._deliveries(req),
            ("/_sandbox/webhooks/deliveries", "DELETE"): self._clear_deliveries,
        }
        handler = routes.get((path, method))
        if handler is None:
            known = {p for p, _ in routes}
            return smile_error(405 if path in known else 404, f"No control endpoint {method} {path}.")
        return handler(body)

    # ---- customers & tiers -----------------------------------------------------------------
    def _customer_response(self, cid: int, status: int) -> Response:
        return Response(status, f'{{"customer":{self.store.customer_json(cid)}}}'.encode())

    def _notify(self, cids) -> None:
        if not self.app.webhooks.enabled:
            return
        for cid in cids:
            customer = self.store.customer_json(cid)
            if customer is not None:
                self.app.webhooks.customer_updated(cid, customer)

    def _create_customer(self, body: dict) -> Response:
        cid = mutations.create_customer(self.store, body)
        self._notify([cid])
        return self._customer_response(cid, 201)

    def _customer(self, cid: int, method: str, body: dict) -> Response:
        if method == "GET":
            customer = self.store.customer_json(cid)
            if customer is None:
                return smile_error(404, "Customer not found.")
            return Response(200, f'{{"customer":{customer}}}'.encode())
        if method == "PATCH":
            if not mutations.patch_customer(self.store, cid, body):
                return smile_error(404, "Customer not found.")
            self._notify([cid])
            return self._customer_response(cid, 200)
        if method == "DELETE":
            if not self.store.delete_customer(cid):
                return smile_error(404, "Customer not found.")
            return json_response(200, {"deleted": cid})
        return smile_error(405, "Use GET, PATCH or DELETE.")

    def _create_tier(self, body: dict) -> Response:
        return json_response(
            201, {"vip_tier": mutations.tier_public(mutations.create_tier(self.store, body))}
        )

    def _tier(self, tier_id: int, method: str, body: dict) -> Response:
        if method == "PATCH":
            tier = mutations.patch_tier(self.store, tier_id, body)
            if tier is None:
                return smile_error(404, "VIP tier not found.")
            return json_response(200, {"vip_tier": mutations.tier_public(tier)})
        if method == "DELETE":
            moved = self.store.delete_tier(tier_id)
            if moved is None:
                return smile_error(404, "VIP tier not found.")
            self._notify(moved)
            return json_response(200, {"deleted": tier_id, "customers_moved": len(moved)})
        return smile_error(405, "Use PATCH or DELETE.")

    # ---- faults, logs, settings ------------------------------------------------------------
    def _clear_faults(self, body: dict) -> Response:
        self.app.faults.clear()
        return json_response(200, {"faults": []})

    def _requests(self, req: Request) -> Response:
        params = req.params()
        try:
            since = float(params["since"]) if params.get("since") else None
            limit = int(params["limit"]) if params.get("limit") else None
        except ValueError:
            return smile_error(400, "since must be an epoch float and limit an integer.")
        return json_response(200, {"requests": self.app.reqlog.since(since, limit)})

    def _clear_requests(self, body: dict) -> Response:
        self.app.reqlog.clear()
        return json_response(200, {"requests": []})

    def _settings(self, body: dict) -> Response:
        unknown = set(body) - set(SETTINGS)
        if unknown:
            return smile_error(422, f"Unknown setting(s): {', '.join(sorted(unknown))}.")
        for key, value in body.items():
            nullable = key in ("retry_after", "webhook_url")
            if (value is None and not nullable) or (
                value is not None and not isinstance(value, SETTINGS[key])
            ):
                return smile_error(422, f"{key} has the wrong type.")
        try:
            dataclasses.replace(self.cfg, **body).validate()
        except ValueError as exc:
            return smile_error(422, str(exc))
        for key, value in body.items():
            setattr(self.cfg, key, value)
        self.app.limiter.limit = self.cfg.rate_limit
        return json_response(200, {k: getattr(self.cfg, k) for k in SETTINGS})

    # ---- ground truth & reset --------------------------------------------------------------
    def _export(self, req: Request) -> Response:
        tiers = [mutations.tier_public(t) for t in self.store.tiers]
        if req.params().get("format") == "ndjson":

            def lines():
                for t in tiers:
                    yield (json.dumps({"type": "vip_tier", **t}) + "\n").encode()
                for row in self.store.export_rows():
                    yield (
                        json.dumps({"type": "customer", **raw_customer(row)}, ensure_ascii=False) + "\n"
                    ).encode()

            return Response(200, b"", "application/x-ndjson", stream=lines())
        customers = [raw_customer(row) for row in self.store.export_rows()]
        return json_response(200, {"meta": self.app.health(), "vip_tiers": tiers, "customers": customers})

    def _reset(self, body: dict) -> Response:
        cfg = self.cfg
        try:
            customers = int(body.get("customers", cfg.customers))
            seed = int(body.get("seed", cfg.seed))
        except (TypeError, ValueError):
            return smile_error(422, "customers and seed must be integers.")
        program, tiers = body.get("program", cfg.program), body.get("tiers", cfg.tiers)
        if program not in ("calendar", "lifetime") or tiers not in (3, 4) or customers < 0:
            return smile_error(422, "program must be calendar|lifetime, tiers 3|4, customers >= 0.")
        self.store.regenerate(customers, seed, program, tiers)
        cfg.customers, cfg.seed, cfg.program, cfg.tiers = customers, seed, program, tiers
        return json_response(200, self.app.health())

    # ---- webhooks --------------------------------------------------------------------------
    def _send_webhook(self, body: dict) -> Response:
        if not self.app.webhooks.enabled:
            return smile_error(409, "No webhook URL configured (--webhook-url).")
        cid = body.get("customer_id")
        customer = self.store.customer_json(cid) if isinstance(cid, int) else None
        if customer is None and not body.get("previous"):
            return smile_error(404, "Customer not found.")
        ids = self.app.webhooks.customer_updated(
            cid, customer or "", duplicate=bool(body.get("duplicate")), previous=bool(body.get("previous"))
        )
        return json_response(202, {"queued": ids})

    def _ping(self, body: dict) -> Response:
        if not self.app.webhooks.enabled:
            return smile_error(409, "No webhook URL configured (--webhook-url).")
        return json_response(202, {"queued": [self.app.webhooks.ping()]})

    def _deliveries(self, req: Request) -> Response:
        try:
            wait = min(float(req.params().get("wait") or 0), 30.0)
        except ValueError:
            return smile_error(400, "wait must be a number of seconds.")
        if wait > 0:
            self.app.webhooks.wait_idle(wait)
        return json_response(200, {"deliveries": self.app.webhooks.list()})

    def _clear_deliveries(self, body: dict) -> Response:
        self.app.webhooks.clear()
        return json_response(200, {"deliveries": []})


def raw_customer(row: dict) -> dict:
    """The ground-truth form of a stored customer (used by /_sandbox/export)."""
    base = json.loads(row["base"] + b"}")
    return {
        "id": row["id"],
        "email": row["email"],
        "first_name": base["first_name"],
        "last_name": base["last_name"],
        "state": row["state"],
        "points_balance": row["points_balance"],
        "vip_tier_id": row["vip_tier_id"],
        "vip_tier_expires_at": row["vip_tier_expires_at"],
        "progress_value": row["progress_value"],
        "date_of_birth": base["date_of_birth"],
        "created_at": iso_ms(row["created_ms"]),
        "updated_at": iso_ms(row["updated_ms"]),
    }
