"""Parsed Smile objects handed out by the client. Raw responses never leave ``client.py``.

Only the fields the product uses are kept; parsing is strict about types (a malformed page raises
``SmileBadResponse`` instead of producing half-parsed data).
"""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class VipTierData:
    id: int
    name: str
    milestone: float | None


@dataclass(frozen=True, slots=True)
class CustomerData:
    id: int
    email: str | None  # as Smile sent it (may be None or ""); the lists domain normalises it
    state: str  # "member" | "candidate" | "disabled"
    points_balance: int
    vip_tier_id: int | None  # from vip_status.vip_tier_id (falls back to deprecated top-level field)
    vip_tier_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CustomerPage:
    customers: list[CustomerData]
    cursor: str | None  # the cursor that fetched this page (None for the first page)
    next_cursor: str | None  # None when this was the last page ("" from Smile is normalised to None)
