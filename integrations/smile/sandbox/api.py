"""The Smile REST endpoints under /v1: customers (list + retrieve), vip_tiers, points_settings.

Handlers run after the server has authenticated the token (which names the program), applied the rate
limit and checked the scope; they only validate parameters and render. Every error uses Smile's error
body. Cursors follow ``--cursor-mode`` (cursors.py); customers render through present.py.
"""

from __future__ import annotations

import json
import re

from .cursors import CursorError, Cursors
from .fleet import Program
from .present import Presenter
from .render import jstr, num, parse_iso
from .store import Store
from .web import BadForm, Request, Response, smile_error

STATES = ("candidate", "member", "disabled")
CUSTOMER_RE = re.compile(r"/v1/customers/(\d{1,19})")
INT_RE = re.compile(r"\d{1,6}")
POINTS_SETTINGS = '{"points_settings":{"points_label":{"one":"Point","other":"Points"}}}'


class ParamError(ValueError):
    pass


def parse_include(raw: str | None, allowed: tuple[str, ...]) -> set[str]:
    if raw is None or raw == "":
        return set()
    values = {v.strip() for v in raw.split(",") if v.strip()}
    bad = sorted(values - set(allowed))
    if bad:
        raise ParamError(f"Invalid include value(s): {', '.join(bad)}. Allowed: {', '.join(allowed)}.")
    return values


def route(path: str) -> tuple[str, str] | None:
    """(endpoint name, required scope) for a /v1 path, or None for 404."""
    if path == "/v1/customers":
        return "list_customers", "customer:read"
    if CUSTOMER_RE.fullmatch(path):
        return "get_customer", "customer:read"
    if path == "/v1/vip_tiers":
        return "vip_tiers", "vip_tier:read"
    if path == "/v1/points_settings":
        return "points_settings", "points_settings:read"
    return None


class Api:
    def __init__(self, cfg, store: Store, presenter: Presenter, cursors: Cursors):
        self.cfg = cfg
        self.store = store
        self.present = presenter
        self.cursors = cursors

    def dispatch(self, endpoint: str, req: Request, prog: Program) -> Response:
        try:
            params = req.params()
            return getattr(self, endpoint)(req, params, prog)
        except (ParamError, BadForm) as exc:
            return smile_error(400, str(exc))
        except CursorError as exc:
            return smile_error(exc.status, str(exc))

    # ---- customers -------------------------------------------------------------------------
    def list_customers(self, req: Request, params: dict[str, str], prog: Program) -> Response:
        limit = 50
        if "limit" in params:
            if not INT_RE.fullmatch(params["limit"]) or not 1 <= int(params["limit"]) <= 250:
                raise ParamError("limit must be an integer between 1 and 250.")
            limit = int(params["limit"])
        state = params.get("state")
        if state is not None and state not in STATES:
            raise ParamError("state must be one of candidate, member, disabled.")
        email = params.get("email")
        email_lc = email.lower() if email else None
        updated_min = None
        if params.get("updated_at_min") is not None:
            try:
                updated_min = parse_iso(params["updated_at_min"])
            except ValueError as exc:
                raise ParamError("updated_at_min must be an ISO 8601 date-time.") from exc
        vip = "vip_status" in parse_include(params.get("include"), ("vip_status",))
        mode, cursor = self.cfg.cursor_mode, params.get("cursor")
        after_id, direction = self.cursors.decode(mode, prog.n, cursor) if cursor else (None, "next")

        def encode(cid: int, way: str) -> str:
            return self.cursors.encode(mode, prog.n, cid, way)

        filters = {
            "state": state,
            "email_lc": email_lc,
            "updated_min": updated_min,
            "updated_exclusive": self.cfg.updated_at_min == "exclusive",
        }
        rows, more = self.store.list_page(
            prog, after_id=after_id, direction=direction, limit=limit, **filters
        )
        next_cursor, prev_cursor = None, ""
        if rows:
            if direction == "next":
                next_cursor = encode(rows[-1][0], "next") if more else None
                prev_cursor = encode(rows[0][0], "prev") if after_id is not None else ""
            else:
                prev_cursor = encode(rows[0][0], "prev") if more else ""
                beyond = self.store.exists_beyond(prog, before_id=rows[-1][0], **filters)
                next_cursor = encode(rows[-1][0], "next") if beyond else None
        items = self.present.page_items(prog, rows, vip)
        meta = f'"next_cursor":{jstr(next_cursor)},"previous_cursor":{jstr(prev_cursor)}'.encode()
        return Response(200, b'{"customers":[%s],"metadata":{%s}}' % (items, meta))

    def get_customer(self, req: Request, params: dict[str, str], prog: Program) -> Response:
        cid = int(CUSTOMER_RE.fullmatch(req.path).group(1))
        include = parse_include(
            params.get("include"), ("vip_status", "vip_status.vip_tier", "vip_status.next_vip_tier")
        )
        row = self.store.get_row(prog, cid)
        if row is None:
            return smile_error(404, "Customer not found.")
        index, tier_id, extra = prog.index, row[3], ""
        if "vip_status.vip_tier" in include:
            tier = None if self.present.no_vip else index.by_id.get(tier_id)
            extra += f',"vip_tier":{index.partial(tier)}'
        if "vip_status.next_vip_tier" in include:
            tier = None if self.present.no_vip else index.next_tier(tier_id)
            extra += f',"next_vip_tier":{index.partial(tier)}'
        base, vip = self.present.fragments(prog, cid, row[1], row[2], extra.encode())
        body = base + (b',"vip_status":' + vip if include and vip is not None else b"") + b"}"
        return Response(200, b'{"customer":%s}' % body)

    # ---- tiers / settings ------------------------------------------------------------------
    def vip_tiers(self, req: Request, params: dict[str, str], prog: Program) -> Response:
        if self.present.no_vip:
            status = self.cfg.vip_tiers_status
            message = "You do not have access to VIP tiers." if status == 403 else "Not found."
            return smile_error(status, message)
        include = parse_include(params.get("include"), ("perks", "entry_rewards"))
        items = []
        for t in prog.tiers:  # already sorted by milestone ascending
            item = (
                f'{{"id":{t["id"]},"name":{jstr(t["name"])},"image_url":{jstr(t["image_url"])},'
                f'"milestone":{num(t["milestone"])}'
            )
            for key in ("perks", "entry_rewards"):
                if key in include:
                    item += f',"{key}":{json.dumps(json.loads(t[key]), ensure_ascii=False)}'
            items.append(item + "}")
        return Response(200, f'{{"vip_tiers":[{",".join(items)}]}}'.encode())

    def points_settings(self, req: Request, params: dict[str, str], prog: Program) -> Response:
        return Response(200, POINTS_SETTINGS.encode())
