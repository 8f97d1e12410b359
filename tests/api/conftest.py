"""Fixtures for the JSON API tests: merchants with API keys, and lists/items/snapshot rows built directly
with the lists domain's models (no Smile, no sync cycle needed)."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from loyalty_lists.api.keys import api_key_create
from loyalty_lists.api.ratelimit import limiter
from loyalty_lists.lists.models import ListItem, LoyaltyList, SmileCustomer, SyncRun, SyncState, VipTier

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count(1000)


@pytest.fixture(autouse=True)
def _fresh_rate_limiter():
    limiter.reset()
    yield
    limiter.reset()


class Api:
    """A Django test client that sends one merchant's API key."""

    def __init__(self, client, key: str | None):
        self.client = client
        self.key = key

    def _headers(self, headers):
        merged = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        merged.update(headers or {})
        return merged

    def get(self, path, data=None, headers=None):
        return self.client.get(path, data, headers=self._headers(headers))

    def post(self, path, json=None, body=None, headers=None, content_type="application/json"):
        import json as _json

        payload = body if body is not None else ("" if json is None else _json.dumps(json))
        return self.client.post(path, payload, content_type=content_type, headers=self._headers(headers))

    def delete(self, path, headers=None):
        return self.client.delete(path, headers=self._headers(headers))

    def generic(self, method, path, body="", headers=None):
        return self.client.generic(method, path, body, headers=self._headers(headers))


@pytest.fixture
def shop(merchant_a):
    return merchant_a[0]


@pytest.fixture
def other_shop(merchant_b):
    return merchant_b[0]


@pytest.fixture
def key_a(shop):
    return api_key_create(merchant=shop, name="Workflows")[1]


@pytest.fixture
def key_b(other_shop):
    return api_key_create(merchant=other_shop, name="Other workflows")[1]


@pytest.fixture
def api(client, key_a):
    return Api(client, key_a)


@pytest.fixture
def api_b(client, key_b):
    return Api(client, key_b)


@pytest.fixture
def anonymous(client):
    return Api(client, None)


def make_tier(merchant, smile_id, name, *, exists=True):
    return VipTier.objects.create(
        merchant=merchant, smile_id=smile_id, name=name, exists_in_smile=exists, last_seen_at=T0
    )


def make_list(merchant, name="Members", audience="all_members", tier=None, **fields):
    fields.setdefault("last_published_at", T0)
    return LoyaltyList.objects.create(
        merchant=merchant, name=name, audience=audience, vip_tier_id=tier, **fields
    )


def make_customer(
    merchant, email, *, smile_id=None, state="member", tier=None, tier_name=None, points=0, **fields
):
    fields.setdefault("last_seen_at", T0)
    return SmileCustomer.objects.create(
        merchant=merchant,
        smile_id=smile_id or next(_ids),
        email=email,
        state=state,
        points_balance=points,
        vip_tier_id=tier,
        vip_tier_name=tier_name,
        smile_created_at=T0 - timedelta(days=30),
        smile_updated_at=T0,
        loyalty_member_since=T0 - timedelta(days=30) if state == "member" else None,
        **fields,
    )


def make_item(lst, email, *, smile_id=None, state="member", points=0, tier=None, tier_name=None, **fields):
    """An item (and, unless ``snapshot=False``, the matching snapshot row, as a sync would leave them)."""
    snapshot = fields.pop("snapshot", True)
    smile_id = smile_id or next(_ids)
    if snapshot and not SmileCustomer.objects.filter(merchant=lst.merchant, smile_id=smile_id).exists():
        make_customer(
            lst.merchant, email, smile_id=smile_id, state=state, tier=tier, tier_name=tier_name, points=points
        )
    item = ListItem.objects.create(
        merchant=lst.merchant,
        list=lst,
        smile_customer_id=smile_id,
        email=email,
        points_balance=points,
        vip_tier_id=tier,
        vip_tier_name=tier_name,
        state=state,
        loyalty_member_since=T0 - timedelta(days=30) if state == "member" else None,
        added_at=T0,
        updated_at=T0,
        **fields,
    )
    LoyaltyList.objects.filter(pk=lst.pk).update(item_count=ListItem.objects.filter(list=lst).count())
    return item


def make_run(merchant, *, kind="delta", status="succeeded", started_at=T0, minutes=1, **fields):
    """A sync run; a good delta/full run also advances the merchant's watermark, as the publish does."""
    finished = started_at + timedelta(minutes=minutes) if status != "running" else None
    run = SyncRun.objects.create(
        merchant=merchant, kind=kind, status=status, started_at=started_at, finished_at=finished, **fields
    )
    if kind in ("delta", "full") and status in ("succeeded", "held"):
        state, _ = SyncState.objects.get_or_create(merchant=merchant)
        if state.watermark is None or state.watermark < started_at:
            state.watermark = started_at
            state.save(update_fields=["watermark"])
    return run
