"""Request and response shapes of the JSON API (ninja ``Schema``s, and one plain pydantic model for the
lookup's body: they are the OpenAPI document)."""

from datetime import datetime
from typing import Annotated, Literal

from ninja import Schema
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from loyalty_lists.lists.membership import email_normalize

INT64_MAX = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]
AudienceName = Literal["all_members", "members_and_candidates", "vip_tier"]
StateName = Literal["member", "candidate", "disabled"]
EMAIL_MAX_LENGTH = 254
NAME_MAX_LENGTH = 200
AS_OF = (
    "Start of the merchant's last good sync cycle: every change made in Smile before then is in the lists "
    "(null before the first sync)."
)


def clean_text(value: str) -> str:
    """Reject what no column can store: control characters (NUL breaks PostgreSQL) and lone surrogates."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def clean_email(value: str) -> str:
    """The sync's rule (``email_normalize``: trimmed, case-folded), plus: not blank, storable."""
    email = clean_text(email_normalize(value))
    if not email:
        raise ValueError("must not be blank")
    if len(email) > EMAIL_MAX_LENGTH:
        raise ValueError(f"must be at most {EMAIL_MAX_LENGTH} characters")
    return email


# --- errors -----------------------------------------------------------------------------------------
class ErrorDetail(Schema):
    field: str = Field(description="The offending field ('name', 'limit', 'list_ids.0'…).")
    location: str = Field(description="Where it was: body, query or path.")
    message: str
    type: str


class ErrorBody(Schema):
    code: str = Field(description="Stable machine-readable code, e.g. validation_error, not_found.")
    message: str = Field(description="What went wrong, for people.")
    details: list[ErrorDetail] | None = Field(None, description="Validation errors (422 only).")


class ErrorOut(Schema):
    error: ErrorBody


# --- lists ------------------------------------------------------------------------------------------
class VipTierOut(Schema):
    id: int = Field(description="Smile VIP tier id.")
    name: str


class StaleOut(Schema):
    since: datetime
    reason: str


class ListOut(Schema):
    id: int
    name: str
    audience: AudienceName
    vip_tier: VipTierOut | None = Field(description="The list's VIP tier (vip_tier lists only).")
    member_count: int
    stale: StaleOut | None = Field(
        description="Set while the list is frozen (its VIP tier vanished from Smile); null otherwise."
    )
    last_synced_at: datetime | None = Field(description="When a sync last published this list.")


class ListIn(Schema):
    name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH)
    audience: AudienceName
    vip_tier_id: Id | None = Field(
        None, validate_default=True, description="Smile VIP tier id; required for vip_tier lists only."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = clean_text(value).strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("vip_tier_id")
    @classmethod
    def _tier(cls, value: int | None, info: ValidationInfo) -> int | None:
        audience = info.data.get("audience")
        if audience == "vip_tier" and value is None:
            raise ValueError("is required when the audience is vip_tier")
        if audience is not None and audience != "vip_tier" and value is not None:
            raise ValueError("is only allowed when the audience is vip_tier")
        return value


class SyncQueuedOut(Schema):
    queued: bool
    run_id: int = Field(description="The queued sync run (``GET /sync-runs`` shows it until it ends).")
    already_queued: bool = Field(description="True when a sync was queued already: this call joined it.")
    message: str


# --- items ------------------------------------------------------------------------------------------
class ItemOut(Schema):
    smile_customer_id: int
    email: str
    points_balance: int
    vip_tier_id: int | None
    vip_tier_name: str | None
    vip_tier_expires_at: datetime | None
    state: StateName
    loyalty_member_since: datetime | None


class ItemPage(Schema):
    items: list[ItemOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class MembershipOut(Schema):
    list_id: int
    email: str = Field(description="The email as compared (trimmed, lower-case).")
    member: bool
    item: ItemOut | None = Field(description="The first of `items` (null when not a member).")
    items: list[ItemOut] = Field(description="Every Smile customer with this email in the list, in order.")
    as_of: datetime | None = Field(description=AS_OF)
    stale: StaleOut | None
    reason: str | None = Field(description="Why the shopper is not in the list (null for members).")
    reason_code: str | None = Field(description="Stable code for `reason` (e.g. not_found, disabled).")


# --- lookups ----------------------------------------------------------------------------------------
class LookupIn(BaseModel):
    # A plain pydantic model: a request body needs none of ``Schema``'s ORM-attribute reading, which
    # costs the hot path ~6 µs per call (validation 10 µs -> 4 µs).
    email: str = Field(max_length=1000)
    list_ids: list[Id] | None = Field(
        None, max_length=500, description="Lists to answer for; every list of the merchant when omitted."
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return clean_email(value)


class LookupResult(Schema):
    list_id: int
    name: str
    member: bool
    stale: StaleOut | None
    item: ItemOut | None = Field(description="The first of `items` (null when not a member).")
    items: list[ItemOut]
    reason: str | None
    reason_code: str | None


class LookupOut(Schema):
    email: str = Field(description="The email as compared (trimmed, lower-case).")
    as_of: datetime | None = Field(description=AS_OF)
    results: list[LookupResult]


# --- sync runs --------------------------------------------------------------------------------------
class SyncRunOut(Schema):
    id: int
    kind: Literal["delta", "full", "webhook"]
    status: Literal["queued", "running", "succeeded", "failed", "held"]
    queued_at: datetime | None = Field(description="When the cycle was asked for (queued runs, cycles).")
    started_at: datetime = Field(description="When the run started (a queued run: when it was queued).")
    finished_at: datetime | None
    customers_fetched: int
    lists_published: int
    items_added: int
    items_removed: int
    items_changed: int
    customers_gone: int
    error: str | None = Field(description="Why the run failed (failed runs only).")


class SyncRunPage(Schema):
    items: list[SyncRunOut]
    next_cursor: str | None
