"""Shapes of the change feed (``/changes``) and of webhook endpoints (``/webhook-endpoints``), in the same
conventions as ``schemas.py`` (every server rule stated as JSON Schema; times in UTC ending in ``Z``).
A webhook delivery's ``data.events`` are ``ChangeOut`` objects too: one shape for the feed and the
webhooks."""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from loyalty_lists.lists.models import ListChange
from loyalty_lists.outbound.ssrf import URL_MAX_LENGTH, URL_PATTERN, url_valid

from . import cursors, examples
from .schemas import NAME_PATTERN, UTC_PATTERN, Id, UtcDateTime, clean_name

ChangeKind = Literal[tuple(ListChange.Kind.values)]
FeedCursor = Annotated[str, WithJsonSchema({"type": "string", "pattern": cursors.NUMBER_CURSOR})]
UtcText = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": UTC_PATTERN,
            "examples": ["2026-12-06T19:31:00Z"],
        }
    ),
]


# --- the change feed ------------------------------------------------------------------------------------
class ChangeShopperOut(BaseModel):
    smile_customer_id: int
    email: str = Field(description="As stored (trimmed, lower-case); for `left`, the email the item had.")
    vip_tier_name: str | None = Field(description="The tier the item has now (null for `left`).")
    previous_vip_tier_name: str | None = Field(description="The tier it had before (tier moves and `left`).")


class ListEventOut(BaseModel):
    reason: str | None = Field(description="Why, for people (stale, recovered, held).")
    removed: int | None = Field(description="Held: items the run would remove; approved/discarded: removed.")
    added: int | None = Field(description="Approved: items the approval added.")
    changed: int | None = Field(description="Approved: items whose data changed.")
    list_size: int | None = Field(description="Held: the list's size before the run.")
    vip_tier_id: int | None = Field(description="Stale / recovered: the list's VIP tier.")
    name: str | None = Field(description="Deleted: the list's name.")


class ChangeOut(BaseModel):
    cursor: FeedCursor = Field(description="This change's position in the feed.")
    kind: ChangeKind
    list_id: int
    run_id: int | None = Field(description="The sync run that made the change (or that was held/decided).")
    occurred_at: UtcText
    shopper: ChangeShopperOut | None = Field(description="Membership changes only (null for list events).")
    list_event: ListEventOut | None = Field(description="List events only (null for membership changes).")


class ChangePage(BaseModel):
    items: list[ChangeOut]
    next_cursor: FeedCursor = Field(
        description="Pass as ?after= for the next page (store it: it is durable)."
    )
    has_more: bool = Field(description="True when more changes are waiting right now.")

    model_config = {"json_schema_extra": {"examples": examples.CHANGE_PAGE}}


class FeedPositionOut(BaseModel):
    cursor: FeedCursor = Field(description="The feed's current end: changes from now on come after it.")
    oldest_cursor: FeedCursor = Field(description="The earliest ?after= still served (retention).")

    model_config = {"json_schema_extra": {"examples": examples.FEED_POSITION}}


# --- webhook endpoints ----------------------------------------------------------------------------------
def clean_url(value: str) -> str:
    """The endpoints' URL rule (``outbound.ssrf.URL_PATTERN``, stated in the schema)."""
    if not url_valid(value):
        raise ValueError("must be an http:// or https:// URL with a host name (no user:password, no #)")
    return value


Url = Annotated[
    str,
    Field(strict=True, max_length=URL_MAX_LENGTH, json_schema_extra={"pattern": URL_PATTERN}),
    AfterValidator(clean_url),
]
Description = Annotated[
    str,
    Field(strict=True, max_length=200, json_schema_extra={"pattern": NAME_PATTERN}),
    AfterValidator(clean_name),
]
EVENT_TYPES_RULE = "Kinds of change to send (empty or absent: every kind)."
LIST_IDS_RULE = "Lists whose changes to send (empty or absent: every list). Unknown ids are a 404."


class EndpointIn(BaseModel):
    url: Url = Field(description="Where deliveries are POSTed: http(s), a host name, no user:password.")
    description: Description | None = None
    event_types: list[ChangeKind] = Field(default_factory=list, max_length=20, description=EVENT_TYPES_RULE)
    list_ids: list[Id] = Field(default_factory=list, max_length=500, description=LIST_IDS_RULE)

    model_config = {"json_schema_extra": {"examples": examples.ENDPOINT_IN}}


class EndpointPatch(BaseModel):
    url: Url | None = None
    description: Description | None = None
    event_types: list[ChangeKind] | None = Field(None, max_length=20, description=EVENT_TYPES_RULE)
    list_ids: list[Id] | None = Field(None, max_length=500, description=LIST_IDS_RULE)
    enabled: Annotated[bool, Field(strict=True)] | None = Field(
        None, description="false pauses deliveries; true resumes them, in order."
    )

    model_config = {"json_schema_extra": {"examples": [{"enabled": True}, {"event_types": ["list_held"]}]}}


class EndpointOut(BaseModel):
    id: int
    url: str
    description: str
    event_types: list[ChangeKind]
    list_ids: list[int]
    enabled: bool
    disabled_at: UtcDateTime | None
    disabled_reason: str | None = Field(description="Why it is disabled (automatically after failures).")
    failing_since: UtcDateTime | None = Field(description="First failed attempt since the last success.")
    secret_hint: str = Field(description="The start of the signing secret (the secret is shown once).")
    previous_secret_expires_at: UtcDateTime | None = Field(
        description="After a rotation: until then, deliveries are signed with the old secret too."
    )
    pending_deliveries: int
    created_at: UtcDateTime

    model_config = {"json_schema_extra": {"examples": [examples.ENDPOINT_OUT]}}


class EndpointSecretOut(EndpointOut):
    secret: str = Field(description="The whsec_ signing secret. Shown this once: store it now.")

    model_config = {"json_schema_extra": {"examples": [examples.ENDPOINT_SECRET_OUT]}}


class AttemptOut(BaseModel):
    attempted_at: UtcDateTime
    status_code: int | None = Field(description="The receiver's HTTP status (null: no answer).")
    latency_ms: int | None
    error: str | None = Field(description="Timeout, connection error, refused destination.")
    response_excerpt: str = Field(description="The first 500 bytes of the answer.")
    replay: bool


class DeliveryOut(BaseModel):
    sequence: int = Field(description="The endpoint's delivery number, in order (data.sequence).")
    message_id: str = Field(description="The webhook-id header: the same on every attempt.")
    status: Literal["pending", "delivered", "failed"]
    event_count: int
    first_cursor: FeedCursor
    last_cursor: FeedCursor
    attempts: int
    next_attempt_at: UtcDateTime | None
    delivered_at: UtcDateTime | None
    created_at: UtcDateTime
    attempt_log: list[AttemptOut] = Field(description="Latest first (at most 10).")


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next (older) page; null at the end."
    )
