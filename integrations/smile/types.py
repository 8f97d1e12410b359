"""Parsed Smile objects handed out by the client. Raw responses never leave ``client.py``.

Only the fields the product uses are kept; parsing is strict about types (a malformed page raises
``SmileBadResponse`` instead of producing half-parsed data).
"""

from dataclasses import dataclass, field
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
class Quarantined:
    """A customer record the client could not read (a field missing, null or of the wrong type): set
    aside, the rest of its page kept. ``id`` when the record still names one (an integer, or digits)."""

    id: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class CustomerPage:
    customers: list[CustomerData]
    cursor: str | None  # the cursor that fetched this page (None for the first page)
    next_cursor: str | None  # None when this was the last page ("" from Smile is normalised to None)
    quarantined: list[Quarantined] = field(default_factory=list)
