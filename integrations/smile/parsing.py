"""Strict parsing of Smile response bodies into ``types.py`` objects (``client.py``).

Anything that is not the documented shape raises ``SmileBadResponse``; nothing half-parsed escapes —
with one tolerance: in a customers page, a *record* that fails (a null ``points_balance``, a missing
``updated_at``, a string id…) is quarantined (``Quarantined``: its id when it names one, and why) and
the rest of the page is kept, so one bad customer cannot stop a merchant's sync. A page where most
records fail is still a bad response (something is wrong with Smile, not with one customer).
"""

from datetime import UTC, datetime
from typing import Any

import orjson

from .errors import SmileBadResponse
from .types import CustomerData, CustomerPage, Quarantined, VipTierData

INT64 = 2**63  # ids and points are stored in 64-bit columns


def parse_json(content: bytes, path: str) -> Any:
    """A 2xx body as JSON (orjson: a third faster than ``json`` on customer pages)."""
    try:
        return orjson.loads(content)
    except ValueError:
        raise SmileBadResponse(f"Smile sent a body that is not JSON for GET /{path}") from None


def _fail(what: str) -> SmileBadResponse:
    return SmileBadResponse(f"Smile sent an unexpected response: {what}.")


def _obj(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise _fail(f"{what} is not an object")
    return value


def _int(value: Any, what: str, *, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{what} is not an integer")
    return value


def _id(value: Any, what: str, *, nullable: bool = False) -> int | None:
    """A Smile id: a positive integer in 64 bits (what every backend stores)."""
    value = _int(value, what, nullable=nullable)
    if value is not None and not 0 < value < INT64:
        raise _fail(f"{what} is out of range")
    return value


def _points(value: Any, what: str) -> int:
    value = _int(value, what)
    if not -INT64 <= value < INT64:
        raise _fail(f"{what} is out of range")
    return value


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(f"{what} is not a number")
    return float(value)


def _str(value: Any, what: str, *, nullable: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise _fail(f"{what} is not a string")
    if "\x00" in value:  # PostgreSQL stores no NUL character in text
        raise _fail(f"{what} contains a NUL character")
    return value


def parse_datetime(value: Any, what: str, *, nullable: bool = False) -> datetime | None:
    """ISO 8601 (``2024-04-04T15:10:42.030Z``) to an aware datetime; naive values are taken as UTC."""
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(f"{what} is not a timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(f"{what} is not a timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _cursor(value: Any, what: str) -> str | None:
    cursor = _str(value, what, nullable=True)
    return cursor or None  # Smile sends "" as well as null for "no page"


def parse_vip_tier(raw: Any) -> VipTierData:
    obj = _obj(raw, "a VIP tier")
    name = _str(obj.get("name"), "VIP tier name")
    return VipTierData(
        id=_id(obj.get("id"), "VIP tier id"),
        name=name,
        milestone=_number(obj.get("milestone"), "VIP tier milestone"),
    )


def parse_vip_tiers(body: Any) -> list[VipTierData]:
    tiers = _obj(body, "the body").get("vip_tiers")
    if not isinstance(tiers, list):
        raise _fail("vip_tiers is missing or not a list")
    return [parse_vip_tier(raw) for raw in tiers]


def parse_customer(raw: Any) -> CustomerData:
    obj = _obj(raw, "a customer")
    customer_id = _id(obj.get("id"), "customer id")
    state = _str(obj.get("state"), f"state of customer {customer_id}")
    if not state:
        raise _fail(f"state of customer {customer_id} is empty")
    tier_id = _id(obj.get("vip_tier_id"), "vip_tier_id", nullable=True)  # deprecated fallback
    tier_expires_at = None
    vip_status = obj.get("vip_status")
    if vip_status is not None:
        vip_status = _obj(vip_status, f"vip_status of customer {customer_id}")
        if "vip_tier_id" in vip_status:
            tier_id = _id(vip_status["vip_tier_id"], "vip_status.vip_tier_id", nullable=True)
        tier_expires_at = parse_datetime(
            vip_status.get("vip_tier_expires_at"), "vip_status.vip_tier_expires_at", nullable=True
        )
    return CustomerData(
        id=customer_id,
        email=_str(obj.get("email"), f"email of customer {customer_id}", nullable=True),
        state=state,
        points_balance=_points(obj.get("points_balance"), f"points_balance of customer {customer_id}"),
        vip_tier_id=tier_id,
        vip_tier_expires_at=tier_expires_at,
        created_at=parse_datetime(obj.get("created_at"), f"created_at of customer {customer_id}"),
        updated_at=parse_datetime(obj.get("updated_at"), f"updated_at of customer {customer_id}"),
    )


def parse_customer_page(body: Any, *, cursor: str | None) -> CustomerPage:
    obj = _obj(body, "the body")
    customers = obj.get("customers")
    if not isinstance(customers, list):
        raise _fail("customers is missing or not a list")
    metadata = _obj(obj.get("metadata"), "metadata")
    next_cursor = _cursor(metadata.get("next_cursor"), "metadata.next_cursor")
    _cursor(metadata.get("previous_cursor"), "metadata.previous_cursor")
    if next_cursor is not None and next_cursor == cursor:
        raise _fail("next_cursor repeats the current cursor")
    parsed, quarantined = [], []
    for raw in customers:
        try:
            parsed.append(parse_customer(raw))
        except SmileBadResponse as exc:
            quarantined.append(Quarantined(id=_loose_id(raw), reason=exc.message))
    if quarantined and len(quarantined) * 2 > len(customers):
        raise _fail(f"{len(quarantined)} of the page's {len(customers)} customers are malformed")
    return CustomerPage(customers=parsed, cursor=cursor, next_cursor=next_cursor, quarantined=quarantined)


def _loose_id(raw: Any) -> int | None:
    """The id a malformed record still names, if any (an integer, or a string of digits)."""
    value = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < INT64:
        return value
    return None


def parse_single_customer(body: Any) -> CustomerData:
    return parse_customer(_obj(body, "the body").get("customer"))


def parse_error_body(body: Any) -> tuple[str, str | None]:
    """Smile's ``{"error": {"message", "request_id"}}`` → (message, request_id); tolerant."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message")
            request_id = error.get("request_id")
            return (
                str(message)[:300] if message else "",
                str(request_id)[:100] if request_id else None,
            )
        if isinstance(error, str):
            return error[:300], None
    return "", None
