"""Request and response shapes of the JSON API: they are the OpenAPI document, so every rule the server
enforces on a request is written here as JSON Schema (lengths, patterns, bounds, enums), and every value it
answers with is declared as it is sent.

Times are answered as ISO 8601 in UTC, to the second, ending in ``Z`` (``UtcDateTime``).

Plain pydantic models, not ninja ``Schema``s: the endpoints build their answers as dicts (nothing here
reads model attributes), and ``Schema``'s attribute-reading wrapper made validating a lookup's answer
several times slower (figure 5).
"""

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from loyalty_lists.lists.membership import email_normalize, email_valid
from loyalty_lists.lists.models import Audience, CustomerState, SyncRun

from . import cursors, examples

INT64_MAX = 2**63 - 1
NAME_MAX_LENGTH = 200
AS_OF = (
    "Start of the merchant's last good sync cycle: every change made in Smile before then is in the lists "
    "(null before the first sync)."
)


# --- emails -------------------------------------------------------------------------------------------
def _beyond_ascii() -> str:
    """A regex character class body: the BMP beyond ASCII (from U+00A1, as Django's validator reads
    domains), minus whitespace (``email_normalize`` strips it), surrogates and the one letter whose
    lower case is two characters (U+0130)."""
    wanted = [
        c
        for c in range(0xA1, 0x10000)
        if not (0xD800 <= c <= 0xDFFF) and not chr(c).isspace() and len(chr(c).lower()) == 1
    ]
    ranges, start = [], wanted[0]
    for prev, c in zip(wanted, [*wanted[1:], None], strict=True):
        if c != prev + 1:
            ranges.append(f"\\u{start:04x}" if start == prev else f"\\u{start:04x}-\\u{prev:04x}")
            start = c
    return "".join(ranges)


_U = _beyond_ascii()
_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_LABEL = f"[A-Za-z0-9{_U}](?:[A-Za-z0-9{_U}-]{{0,61}}[A-Za-z0-9{_U}])?"
_TLD = f"(?:[A-Za-z{_U}]{{2,63}}|[Xx][Nn]--[A-Za-z0-9]{{1,59}})"
EMAIL_PATTERN = f"^[ \\t]*[{_ATEXT}]+(?:\\.[{_ATEXT}]+)*@(?:{_LABEL}\\.)+{_TLD}[ \\t]*$"
EMAIL_MIN_LENGTH, EMAIL_MAX_LENGTH = 6, 254
_EMAIL_RE = re.compile(EMAIL_PATTERN)
EMAIL_RULE = (
    "An email address (at most 254 characters; spaces and tabs around it are ignored). Compared trimmed "
    "and case-insensitively, as the sync stores emails."
)
EMAIL_SCHEMA = {"minLength": EMAIL_MIN_LENGTH, "maxLength": EMAIL_MAX_LENGTH, "pattern": EMAIL_PATTERN}


def clean_email(value: str) -> str:
    """The API's email rule: the lists domain's ``email_valid`` (the pages' rule too), within what JSON
    Schema can say exactly (``EMAIL_PATTERN``: dot-atom local part, host names with a letter TLD; no quoted
    local parts, IP literals or bare ``localhost``, which Smile shoppers do not have). Returns the email
    normalised (``email_normalize``). ``tests/api/test_email_rule.py`` holds the pattern inside
    ``email_valid``, so the OpenAPI document states exactly what the server accepts."""
    if not (
        EMAIL_MIN_LENGTH <= len(value) <= EMAIL_MAX_LENGTH
        and _EMAIL_RE.fullmatch(value)
        and email_valid(value)
    ):
        raise ValueError("must be an email address, like ann@example.com")
    return email_normalize(value)


Email = Annotated[
    str,
    Field(strict=True, min_length=EMAIL_MIN_LENGTH, max_length=EMAIL_MAX_LENGTH, description=EMAIL_RULE),
    WithJsonSchema({"type": "string", **EMAIL_SCHEMA, "description": EMAIL_RULE}),
    AfterValidator(clean_email),
]


def _documented(**schema):
    """A string parameter whose rule its endpoint checks itself (for its own error: a 400 for a bad
    cursor, the email's 422 after a list's 404), stated in the OpenAPI document."""
    return Annotated[str, WithJsonSchema({"type": "string", **schema})]


EmailParam = _documented(**EMAIL_SCHEMA)
ItemCursor = _documented(pattern=cursors.ITEM_CURSOR)
RunCursor = _documented(pattern=cursors.RUN_CURSOR)


# --- numbers and names ----------------------------------------------------------------------------------
def _whole_number(value):
    """JSON Schema's ``integer`` is any number without a fraction (``3.0`` too); nothing else (no
    ``"3"``, no ``true``) becomes an id."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Id = Annotated[int, Field(strict=True, ge=1, le=INT64_MAX), BeforeValidator(_whole_number)]

# str.strip()'s whitespace beyond the control characters (which names may not contain at all)
_SPACE = " \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
NAME_PATTERN = f"^[^\\u0000-\\u001f\\u007f]*[^\\u0000-\\u001f\\u007f{_SPACE}][^\\u0000-\\u001f\\u007f]*$"
_NAME_RE = re.compile(NAME_PATTERN)


def clean_name(value: str) -> str:
    """Not blank, no control characters (NUL breaks PostgreSQL), valid Unicode text; trimmed."""
    if not _NAME_RE.fullmatch(value):
        raise ValueError("must not be blank or contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in JSON)
        raise ValueError("must be valid Unicode text") from None
    return value.strip()


Name = Annotated[
    str,
    Field(strict=True, min_length=1, max_length=NAME_MAX_LENGTH, json_schema_extra={"pattern": NAME_PATTERN}),
    AfterValidator(clean_name),
]


# --- times ----------------------------------------------------------------------------------------------
def utc_text(value: datetime) -> str:
    """``2026-12-06T19:31:00Z``: every time the API answers with."""
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


UTC_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
UtcDateTime = Annotated[
    datetime,
    PlainSerializer(utc_text, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": UTC_PATTERN,
            "examples": ["2026-12-06T19:31:00Z"],
        }
    ),
]

AudienceName = Literal[tuple(Audience.values)]
StateName = Literal[tuple(CustomerState.values)]
ReasonCode = Literal[
    "no_email",
    "not_in_smile",
    "gone",
    "disabled",
    "candidate",
    "other_tier",
    "state",
    "list_stale",
    "held",
    "pending",
]


# --- errors ---------------------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    field: str = Field(description="The offending field ('name', 'limit', 'list_ids.0'…).")
    location: str = Field(description="Where it was: body, query or path.")
    message: str
    type: str


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. validation_error, not_found.")
    message: str = Field(description="What went wrong, for people.")
    details: list[ErrorDetail] | None = Field(None, description="Validation errors (422 only).")


class ErrorOut(BaseModel):
    error: ErrorBody

    model_config = {"json_schema_extra": {"examples": examples.ERROR_OUT}}


# --- lists ----------------------------------------------------------------------------------------------
class VipTierOut(BaseModel):
    id: int = Field(description="Smile VIP tier id.")
    name: str


class StaleOut(BaseModel):
    since: UtcDateTime
    reason: str


class ListOut(BaseModel):
    id: int
    name: str
    audience: AudienceName
    vip_tier: VipTierOut | None = Field(description="The list's VIP tier (vip_tier lists only).")
    member_count: int
    stale: StaleOut | None = Field(
        description="Set while the list is frozen (its VIP tier vanished from Smile); null otherwise."
    )
    last_synced_at: UtcDateTime | None = Field(description="When a sync last published this list.")

    model_config = {"json_schema_extra": {"examples": examples.LIST_OUT}}


class ListIn(BaseModel):
    name: Name
    audience: AudienceName
    vip_tier_id: Id | None = Field(
        None,
        validate_default=True,
        description="Smile VIP tier id: required for vip_tier lists, absent or null for the others.",
    )

    model_config = {
        "json_schema_extra": {
            # The one rule across two fields, as JSON Schema: a tier exactly for vip_tier lists.
            "if": {"properties": {"audience": {"const": Audience.VIP_TIER.value}}},
            "then": {"required": ["vip_tier_id"], "properties": {"vip_tier_id": {"type": "integer"}}},
            "else": {"properties": {"vip_tier_id": {"type": "null"}}},
            "examples": examples.LIST_IN,
        }
    }

    @field_validator("vip_tier_id")
    @classmethod
    def _tier(cls, value: int | None, info: ValidationInfo) -> int | None:
        audience = info.data.get("audience")
        if audience == Audience.VIP_TIER and value is None:
            raise ValueError("is required when the audience is vip_tier")
        if audience is not None and audience != Audience.VIP_TIER and value is not None:
            raise ValueError("is only allowed when the audience is vip_tier")
        return value


class SyncQueuedOut(BaseModel):
    queued: bool
    run_id: int = Field(description="The queued sync run (``GET /sync-runs`` shows it until it ends).")
    already_queued: bool = Field(description="True when a sync was queued already: this call joined it.")
    message: str


# --- items ----------------------------------------------------------------------------------------------
class ItemOut(BaseModel):
    smile_customer_id: int
    email: str
    points_balance: int
    vip_tier_id: int | None
    vip_tier_name: str | None
    vip_tier_expires_at: UtcDateTime | None
    state: StateName
    loyalty_member_since: UtcDateTime | None


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")

    model_config = {"json_schema_extra": {"examples": examples.ITEM_PAGE}}


class MembershipOut(BaseModel):
    list_id: int
    email: str = Field(description="The email as compared (trimmed, lower-case).")
    member: bool
    item: ItemOut | None = Field(description="The first of `items` (null when not a member).")
    items: list[ItemOut] = Field(description="Every Smile customer with this email in the list, in order.")
    as_of: UtcDateTime | None = Field(description=AS_OF)
    stale: StaleOut | None
    reason: str | None = Field(description="Why the shopper is not in the list (null for members).")
    reason_code: ReasonCode | None = Field(description="Stable code for `reason` (null for members).")

    model_config = {"json_schema_extra": {"examples": examples.MEMBERSHIP_OUT}}


# --- lookups --------------------------------------------------------------------------------------------
class LookupIn(BaseModel):
    email: Email
    list_ids: list[Id] | None = Field(
        None, max_length=500, description="Lists to answer for; every list of the merchant when omitted."
    )

    model_config = {"json_schema_extra": {"examples": examples.LOOKUP_IN}}


class LookupResult(BaseModel):
    list_id: int
    name: str
    member: bool
    stale: StaleOut | None
    item: ItemOut | None = Field(description="The first of `items` (null when not a member).")
    items: list[ItemOut]
    reason: str | None
    reason_code: ReasonCode | None


class LookupOut(BaseModel):
    email: str = Field(description="The email as compared (trimmed, lower-case).")
    as_of: UtcDateTime | None = Field(description=AS_OF)
    results: list[LookupResult]

    model_config = {"json_schema_extra": {"examples": examples.LOOKUP_OUT}}


# --- sync runs ------------------------------------------------------------------------------------------
class SyncRunOut(BaseModel):
    id: int
    kind: Literal[tuple(SyncRun.Kind.values)]
    status: Literal[tuple(SyncRun.Status.values)]
    queued_at: UtcDateTime | None = Field(
        description="When the cycle was asked for (cycles; null for webhook runs)."
    )
    started_at: UtcDateTime = Field(description="When the run started (a queued run: when it was queued).")
    finished_at: UtcDateTime | None
    customers_fetched: int
    lists_published: int
    items_added: int
    items_removed: int
    items_changed: int
    customers_gone: int
    error: str | None = Field(description="Why the run failed (failed runs only).")


class SyncRunPage(BaseModel):
    items: list[SyncRunOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")

    model_config = {"json_schema_extra": {"examples": examples.SYNC_RUN_PAGE}}
