"""How stored customers look on the wire under the current modes.

Rows are stored pre-rendered (``base``: every field but vip_status, without the closing brace; ``vip``:
the vip_status object), and a page is normally served by joining them (the fast path). Two modes change
what a customer looks like, and only they take the slow path, row by row:

- no VIP program (``--vip-tiers-status 403|404``): ``vip_tier_id`` is null and vip_status is all nulls;
- corrupted records (``POST /_sandbox/customers/{id}/corrupt``): a field is replaced or left out.

The same rendering serves list pages, retrieve, the control API, webhooks and the export's flags.
"""

from __future__ import annotations

import json
import re

from .fleet import Program
from .render import TierIndex, iso_ms
from .store import Store

TIER_ID_RE = re.compile(rb'"vip_tier_id":\d+')
NO_VIP = TierIndex([], "lifetime", None).vip_status(None, None, None).encode()


def corrupt(base: bytes, vip: bytes | None, over: dict) -> tuple[bytes, bytes | None]:
    """Apply a customer's corruptions: {field: JSON text, or None to leave the field out}."""
    customer = json.loads(base + b"}")
    for name, text in over.items():
        if name == "vip_status":
            vip = None if text is None else text.encode()
        elif text is None:
            customer.pop(name, None)
        else:
            customer[name] = json.loads(text)
    return json.dumps(customer, ensure_ascii=False, separators=(",", ":")).encode()[:-1], vip


class Presenter:
    def __init__(self, cfg, store: Store):
        self.cfg = cfg
        self.store = store

    @property
    def no_vip(self) -> bool:
        return self.cfg.vip_tiers_status != 200

    def fragments(
        self, prog: Program, cid: int, base: bytes, vip: bytes, extra: bytes = b""
    ) -> tuple[bytes, bytes | None]:
        """(base without its closing brace, vip_status JSON or None when left out) as served now;
        ``extra`` goes inside vip_status (retrieve's nested vip_tier / next_vip_tier)."""
        if self.no_vip:
            base, vip = TIER_ID_RE.sub(b'"vip_tier_id":null', base, count=1), NO_VIP
        if extra:
            vip = vip[:-1] + extra + b"}"
        over = prog.corrupt.get(cid)
        if over:
            base, vip = corrupt(base, vip, over)
        return base, vip

    def page_items(self, prog: Program, rows: list[tuple], include_vip: bool) -> bytes:
        """The customers of a list page, comma-joined."""
        if not rows:
            return b""
        if not self.no_vip and not prog.corrupt:  # the fast path: join the stored fragments
            if include_vip:
                return b",".join([b'%s,"vip_status":%s}' % (base, status) for _, base, status in rows])
            return b"},".join([r[1] for r in rows]) + b"}"
        items = []
        for cid, base, vip in rows:
            base, vip = self.fragments(prog, cid, base, vip)
            items.append(
                base + b',"vip_status":' + vip + b"}" if include_vip and vip is not None else base + b"}"
            )
        return b",".join(items)

    def customer_json(self, prog: Program, cid: int, vip: bool = True) -> str | None:
        """One customer with vip_status (control API answers, webhooks with ``vip``), None if unknown."""
        row = self.store.get_row(prog, cid)
        if row is None:
            return None
        base, status = self.fragments(prog, cid, row[1], row[2])
        if vip and status is not None:
            return (base + b',"vip_status":' + status + b"}").decode()
        return (base + b"}").decode()

    def webhook_customer(self, prog: Program, cid: int) -> str | None:
        return self.customer_json(prog, cid, vip=self.cfg.webhook_vip_status)

    def vip_tiers(self, prog: Program) -> list[dict]:
        """The tiers the API shows (none for a program without VIP)."""
        return [] if self.no_vip else prog.tiers

    def raw(self, prog: Program, row: dict) -> dict:
        """The ground-truth form of a stored customer (GET /_sandbox/export): the true values, as the
        API serves them apart from corruptions, which are flagged under ``corrupt``."""
        base = json.loads(row["base"] + b"}")
        out = {
            "id": row["id"],
            "email": row["email"],
            "first_name": base["first_name"],
            "last_name": base["last_name"],
            "state": row["state"],
            "points_balance": row["points_balance"],
            "vip_tier_id": None if self.no_vip else row["vip_tier_id"],
            "vip_tier_expires_at": None if self.no_vip else row["vip_tier_expires_at"],
            "progress_value": row["progress_value"],
            "date_of_birth": base["date_of_birth"],
            "created_at": iso_ms(row["created_ms"]),
            "updated_at": iso_ms(row["updated_ms"]),
        }
        over = prog.corrupt.get(row["id"])
        if over:
            out["corrupt"] = {
                name: ({"removed": True} if text is None else {"value": json.loads(text)})
                for name, text in over.items()
            }
        return out
