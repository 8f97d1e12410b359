"""The Smile REST endpoints under /v1: customers (list + retrieve), vip_tiers, points_settings.

Handlers run after the server has authenticated the token, applied the rate limit and checked the
scope; they only validate parameters and render. Every error uses Smile's error body.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from .render import jstr, num, parse_iso, render_customer
from .store import Store
from .web import BadForm, Request, Response, smile_error

STATES = ("candidate", "member", "disabled")
CURSOR_RE = re.compile(r"id:(\d{1,19}),direction:(next|prev)")
CUSTOMER_RE = re.compile(r"/v1/customers/(\d{1,19})")
INT_RE = re.compile(r"\d{1,6}")
POINTS_SETTINGS = '{"points_settings":{"points_label":{"one":"Point","other":"Points"}}}'


class ParamError(ValueError):
    pass


def encode_cursor(cid: int, direction: str) -> str:
    return base64.b64encode(f"id:{cid},direction:{direction}".encode()).decode()


def decode_cursor(value: str) -> tuple[int, str]:
    try:
        raw = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ParamError("The cursor is invalid.") from exc
    match = CURSOR_RE.fullmatch(raw)
    if not match:
        raise ParamError("The cursor is invalid.")
    return int(match.group(1)), match.group(2)


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
    def __init__(self, store: Store):
        self.store = store

    def dispatch(self, endpoint: str, req: Request) -> Response:
        try:
            params = req.params()
            return getattr(self, endpoint)(req, params)
        except (ParamError, BadForm) as exc:
            return smile_error(400, str(exc))

    # ---- customers -------------------------------------------------------------------------
    def list_customers(self, req: Request, params: dict[str, str]) -> Response:
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
        cursor = params.get("cursor")
        after_id, direction = decode_cursor(cursor) if cursor else (None, "next")

        rows, more = self.store.list_page(
            state=state,
            email_lc=email_lc,
            updated_min=updated_min,
            after_id=after_id,
            direction=direction,
            limit=limit,
        )
        next_cursor, prev_cursor = None, ""
        if rows:
            if direction == "next":
                next_cursor = encode_cursor(rows[-1][0], "next") if more else None
                prev_cursor = encode_cursor(rows[0][0], "prev") if after_id is not None else ""
            else:
                prev_cursor = encode_cursor(rows[0][0], "prev") if more else ""
                beyond = self.store.exists_beyond(
                    state=state, email_lc=email_lc, updated_min=updated_min, before_id=rows[-1][0]
                )
                next_cursor = encode_cursor(rows[-1][0], "next") if beyond else None
        if vip:
            items = b",".join([b'%s,"vip_status":%s}' % (base, status) for _, base, status in rows])
        else:
            items = b"},".join([r[1] for r in rows]) + b"}" if rows else b""
        meta = f'"next_cursor":{jstr(next_cursor)},"previous_cursor":{jstr(prev_cursor)}'.encode()
        return Response(200, b'{"customers":[%s],"metadata":{%s}}' % (items, meta))

    def get_customer(self, req: Request, params: dict[str, str]) -> Response:
        cid = int(CUSTOMER_RE.fullmatch(req.path).group(1))
        include = parse_include(
            params.get("include"), ("vip_status", "vip_status.vip_tier", "vip_status.next_vip_tier")
        )
        row = self.store.get_row(cid)
        if row is None:
            return smile_error(404, "Customer not found.")
        base, vip, tier_id = row[1].decode(), row[2].decode(), row[3]
        if not include:
            vip = None
        else:
            index = self.store.index
            extra = ""
            if "vip_status.vip_tier" in include:
                extra += f',"vip_tier":{index.partial(index.by_id.get(tier_id))}'
            if "vip_status.next_vip_tier" in include:
                extra += f',"next_vip_tier":{index.partial(index.next_tier(tier_id))}'
            vip = vip[:-1] + extra + "}"
        return Response(200, f'{{"customer":{render_customer(base, vip)}}}'.encode())

    # ---- tiers / settings ------------------------------------------------------------------
    def vip_tiers(self, req: Request, params: dict[str, str]) -> Response:
        include = parse_include(params.get("include"), ("perks", "entry_rewards"))
        items = []
        for t in self.store.tiers:  # already sorted by milestone ascending
            item = (
                f'{{"id":{t["id"]},"name":{jstr(t["name"])},"image_url":{jstr(t["image_url"])},'
                f'"milestone":{num(t["milestone"])}'
            )
            for key in ("perks", "entry_rewards"):
                if key in include:
                    item += f',"{key}":{json.dumps(json.loads(t[key]), ensure_ascii=False)}'
            items.append(item + "}")
        return Response(200, f'{{"vip_tiers":[{",".join(items)}]}}'.encode())

    def points_settings(self, req: Request, params: dict[str, str]) -> Response:
        return Response(200, POINTS_SETTINGS.encode())
