"""Contract tests of the client's parsing against Smile's published schemas (``smile-openapi.yml``), with
documents generated from them (``smile_spec.documents``, Hypothesis): extra fields, missing optional
fields, nulls, every ``state`` value.

Two promises, for customers and VIP tiers alike:
* a document carrying what the product needs, as the spec types it, parses to exactly what Smile sent
  (nested ``vip_status.vip_tier_id`` over the deprecated top-level one; unknown fields ignored);
* *any* document the spec allows (its schemas require nothing) either parses to values every backend
  can store — ids and points in 64 bits, text without NUL (PostgreSQL refuses it) — or is refused with
  ``SmileBadResponse``, which a customers page turns into one quarantined record. Never another
  exception: one strange record must not stop a merchant's sync.
"""

import contextlib
import copy
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.smile.errors import SmileBadResponse
from integrations.smile.parsing import parse_customer, parse_customer_page, parse_vip_tier
from integrations.smile.types import CustomerData
from tests.support.smile_spec import documents, load_spec

INT64 = 2**63
SCHEMAS = load_spec()["components"]["schemas"]
STATES = SCHEMAS["Customer"]["properties"]["state"]["enum"]

_offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])
_moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=_offsets)
FORMATS = {
    # Smile writes "2024-04-04T15:10:42.030Z"; other offsets and precisions are RFC 3339 too
    "date-time": st.one_of(
        _moments.map(lambda d: d.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")),
        _moments.map(lambda d: d.isoformat()),
    ),
    "date": st.dates().map(lambda d: d.isoformat()),
}
QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _schema(name: str, *, required: list[str] = (), bounds: dict | None = None) -> dict:
    schema = copy.deepcopy(SCHEMAS[name])
    schema["required"] = list(required)
    for prop, extra in (bounds or {}).items():
        target = schema["properties"]
        *parents, leaf = prop.split(".")
        for parent in parents:
            target = target[parent]["properties"]
        target[leaf].update(extra)
    return schema


def _documents(schema: dict):
    return documents(schema, formats=FORMATS)


# What the product needs of a customer, typed as the spec types it, with values a real Smile sends.
NO_NUL = {"pattern": r"^[^\x00]*$"}
ID = {"minimum": 1, "maximum": INT64 - 1}
COMPLETE_CUSTOMER = _schema(
    "Customer",
    required=["id", "email", "state", "points_balance", "created_at", "updated_at"],
    bounds={
        "id": ID,
        "email": NO_NUL,
        "points_balance": {"minimum": -(INT64 - 1), "maximum": INT64 - 1},
        "vip_tier_id": ID,
        "vip_status.vip_tier_id": ID,
    },
)
ANY_CUSTOMER = _schema("Customer")


def _expected_tier(doc: dict) -> int | None:
    status = doc.get("vip_status")
    if isinstance(status, dict) and "vip_tier_id" in status:
        return status["vip_tier_id"]
    return doc.get("vip_tier_id")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@QUICK
@given(_documents(COMPLETE_CUSTOMER))
def test_a_customer_with_what_the_product_needs_parses_to_what_smile_sent(doc):
    status = doc.get("vip_status") if isinstance(doc.get("vip_status"), dict) else {}
    expires = status.get("vip_tier_expires_at")

    assert parse_customer(doc) == CustomerData(
        id=doc["id"],
        email=doc["email"],
        state=doc["state"],
        points_balance=doc["points_balance"],
        vip_tier_id=_expected_tier(doc),
        vip_tier_expires_at=_at(expires) if expires else None,
        created_at=_at(doc["created_at"]),
        updated_at=_at(doc["updated_at"]),
    )


def _storable(customer: CustomerData) -> None:
    assert 0 < customer.id < INT64
    assert -INT64 <= customer.points_balance < INT64
    assert customer.vip_tier_id is None or 0 < customer.vip_tier_id < INT64
    for text in (customer.email or "", customer.state):
        assert "\x00" not in text
    assert customer.created_at.tzinfo is not None and customer.updated_at.tzinfo is not None


@QUICK
@given(_documents(ANY_CUSTOMER), st.lists(_documents(COMPLETE_CUSTOMER), min_size=2, max_size=2))
def test_any_customer_the_spec_allows_parses_to_storable_values_or_is_quarantined_alone(odd, good):
    with contextlib.suppress(SmileBadResponse):
        _storable(parse_customer(odd))

    page = parse_customer_page({"customers": [odd, *good], "metadata": {"next_cursor": None}}, cursor=None)

    assert len(page.customers) + len(page.quarantined) == 3
    assert [c.id for c in page.customers[-2:]] == [g["id"] for g in good], "the good records are kept"
    for customer in page.customers:
        _storable(customer)


@pytest.mark.parametrize("state", STATES)
def test_every_documented_state_is_read(state):
    doc = {"id": 7, "email": "a@example.com", "state": state, "points_balance": 0}
    doc |= {"created_at": "2024-04-04T15:10:42.030Z", "updated_at": "2025-04-04T15:10:42.030Z"}
    assert parse_customer(doc).state == state


COMPLETE_TIER = _schema("VipTier", required=["id", "name", "milestone"], bounds={"id": ID, "name": NO_NUL})


@QUICK
@given(_documents(COMPLETE_TIER))
def test_a_vip_tier_parses_to_what_smile_sent(doc):
    tier = parse_vip_tier(doc)
    assert (tier.id, tier.name, tier.milestone) == (doc["id"], doc["name"], float(doc["milestone"]))


@QUICK
@given(_documents(_schema("VipTier")))
def test_any_vip_tier_the_spec_allows_parses_to_storable_values_or_is_refused(doc):
    try:
        tier = parse_vip_tier(doc)
    except SmileBadResponse:
        return
    assert 0 < tier.id < INT64 and "\x00" not in tier.name
