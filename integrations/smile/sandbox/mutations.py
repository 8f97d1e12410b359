"""Validated customer and tier changes made through the control API.

Every customer change bumps ``updated_at`` with ``Store.tick()`` (strictly increasing). Ids are never
reused. Tier changes re-read the tier index so vip_status follows immediately.
"""

from __future__ import annotations

import json
import re

from . import data, writes
from .fleet import Program
from .render import iso_ms, parse_iso, year_end
from .store import Store

DOB_RE = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")
CUSTOMER_FIELDS = {
    "first_name",
    "last_name",
    "email",
    "state",
    "date_of_birth",
    "points_balance",
    "referral_url",
    "vip_tier_id",
    "vip_tier_expires_at",
    "progress_value",
}
TIER_FIELDS = {"name", "milestone", "image_url", "perks"}


class MutationError(ValueError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_customer_fields(prog: Program, fields: dict) -> dict:
    unknown = set(fields) - CUSTOMER_FIELDS
    if unknown:
        raise MutationError(422, f"Unknown or read-only field(s): {', '.join(sorted(unknown))}.")
    out = dict(fields)
    for key in ("first_name", "last_name", "email", "referral_url"):
        if key in out and out[key] is not None and not isinstance(out[key], str):
            raise MutationError(422, f"{key} must be a string or null.")
    if "state" in out and out["state"] not in ("candidate", "member", "disabled"):
        raise MutationError(422, "state must be candidate, member or disabled.")
    if (
        "date_of_birth" in out
        and out["date_of_birth"] is not None
        and not (isinstance(out["date_of_birth"], str) and DOB_RE.fullmatch(out["date_of_birth"]))
    ):
        raise MutationError(422, "date_of_birth must be YYYY-MM-DD or null.")
    if "points_balance" in out and not _is_int(out["points_balance"]):
        raise MutationError(422, "points_balance must be an integer.")
    if "progress_value" in out and out["progress_value"] is not None and not _is_num(out["progress_value"]):
        raise MutationError(422, "progress_value must be a number or null.")
    if (
        "vip_tier_id" in out
        and out["vip_tier_id"] is not None
        and (not _is_int(out["vip_tier_id"]) or out["vip_tier_id"] not in prog.index.by_id)
    ):
        raise MutationError(422, "vip_tier_id must be the id of an existing VIP tier, or null.")
    if out.get("vip_tier_expires_at") is not None:
        try:
            out["vip_tier_expires_at"] = iso_ms(parse_iso(str(out["vip_tier_expires_at"])))
        except ValueError as exc:
            raise MutationError(422, "vip_tier_expires_at must be an ISO 8601 date-time or null.") from exc
    return out


def default_expiry(prog: Program, tier_id: int | None) -> str | None:
    if tier_id is None or prog.kind != "calendar":
        return None
    return year_end(int(iso_ms(prog.anchor_ms)[:4]) + 1)


def create_customer(store: Store, prog: Program, fields: dict) -> int:
    fields = _check_customer_fields(prog, fields)
    with store.write_lock, store.connection() as conn:
        conn.execute("BEGIN IMMEDIATE")
        cid = writes.next_customer_id(conn, prog)
        stamp = store.tick()
        tier_id = fields.get("vip_tier_id")
        c = {
            "id": cid,
            "first_name": None,
            "last_name": None,
            "email": None,
            "state": "member",
            "date_of_birth": None,
            "points_balance": 0,
            "referral_url": data.referral_url(cid, 0),
            "vip_tier_id": tier_id,
            "vip_tier_expires_at": default_expiry(prog, tier_id),
            "created_at": stamp,
            "updated_at": stamp,
        }
        progress = prog.index.by_id[tier_id].milestone if tier_id is not None else 0.0
        progress = fields.pop("progress_value", progress)
        c.update(fields)
        writes.write_customer(store, conn, prog, c, progress)
        conn.execute("COMMIT")
    return cid


def patch_customer(store: Store, prog: Program, cid: int, fields: dict) -> bool:
    fields = _check_customer_fields(prog, fields)
    with store.write_lock, store.connection() as conn:
        conn.execute("BEGIN IMMEDIATE")
        loaded = writes.load_customer(conn, prog, cid)
        if loaded is None:
            conn.execute("ROLLBACK")
            return False
        c, progress = loaded
        if (
            "vip_tier_id" in fields
            and fields["vip_tier_id"] != c["vip_tier_id"]
            and "vip_tier_expires_at" not in fields
        ):
            fields["vip_tier_expires_at"] = default_expiry(prog, fields["vip_tier_id"])
        progress = fields.pop("progress_value", progress)
        c.update(fields)
        c["updated_at"] = store.tick()
        writes.write_customer(store, conn, prog, c, progress)
        conn.execute("COMMIT")
    return True


def _check_tier_fields(fields: dict, creating: bool) -> dict:
    unknown = set(fields) - TIER_FIELDS
    if unknown:
        raise MutationError(422, f"Unknown or read-only field(s): {', '.join(sorted(unknown))}.")
    if creating and ("name" not in fields or "milestone" not in fields):
        raise MutationError(422, "name and milestone are required.")
    if "name" in fields and (not isinstance(fields["name"], str) or not fields["name"].strip()):
        raise MutationError(422, "name must be a non-empty string.")
    if "milestone" in fields and (not _is_num(fields["milestone"]) or fields["milestone"] < 0):
        raise MutationError(422, "milestone must be a non-negative number.")
    if "image_url" in fields and not isinstance(fields["image_url"], str):
        raise MutationError(422, "image_url must be a string.")
    out = dict(fields)
    if "perks" in out:
        perks = out["perks"]
        if not isinstance(perks, list):
            raise MutationError(422, "perks must be a list.")
        out["perks"] = json.dumps([p if isinstance(p, dict) else {"name": str(p)} for p in perks])
    if "milestone" in out:
        out["milestone"] = float(out["milestone"])
    return out


def create_tier(store: Store, prog: Program, fields: dict) -> dict:
    fields = _check_tier_fields(fields, creating=True)
    with store.write_lock:
        tid = writes.next_tier_id(prog)
        tier = {
            "id": tid,
            "image_url": "https://platform.smile.io/v1/images/vip_tiers/vip-tier-custom.svg",
            "perks": "[]",
            "entry_rewards": "[]",
        } | fields
        writes.save_tier(store, prog, tier)
    return tier


def patch_tier(store: Store, prog: Program, tier_id: int, fields: dict) -> dict | None:
    fields = _check_tier_fields(fields, creating=False)
    with store.write_lock:
        current = next((t for t in prog.tiers if t["id"] == tier_id), None)
        if current is None:
            return None
        tier = current | fields
        writes.save_tier(store, prog, tier)
    return tier


def tier_public(tier: dict) -> dict:
    return {
        "id": tier["id"],
        "name": tier["name"],
        "image_url": tier["image_url"],
        "milestone": tier["milestone"],
        "perks": json.loads(tier["perks"]),
        "entry_rewards": json.loads(tier["entry_rewards"]),
    }


CORRUPTIBLE = ("points_balance", "state", "created_at", "updated_at", "id", "email", "vip_status")


def corrupt_customer(store: Store, prog: Program, cid: int, body: dict) -> bool:
    """``{"field": F, "value": V}`` renders F as V from now on; without ``value`` F is left out.
    The customer's updated_at is bumped (a change in Smile broke the record). False if unknown."""
    unknown = set(body) - {"field", "value"}
    if unknown:
        raise MutationError(422, f"Unknown key(s): {', '.join(sorted(unknown))}.")
    if body.get("field") not in CORRUPTIBLE:
        raise MutationError(422, f"field must be one of {', '.join(CORRUPTIBLE)}.")
    value = json.dumps(body["value"], ensure_ascii=False) if "value" in body else None
    with store.write_lock:
        if store.get_row(prog, cid) is None:
            return False
        writes.set_corruption(store, prog, cid, body["field"], value)
        return writes.touch(store, prog, cid)


def repair_customer(store: Store, prog: Program, cid: int) -> bool:
    """Undo every corruption of the customer (bumping updated_at). False if unknown."""
    with store.write_lock:
        if store.get_row(prog, cid) is None:
            return False
        writes.clear_corruption(store, prog, cid)
        return writes.touch(store, prog, cid)
