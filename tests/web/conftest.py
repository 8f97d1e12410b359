"""Fixtures for the admin pages: two merchants, a signed-in staff client, data built with the lists
domain's models and services (and the in-memory FakeSmile for real sync cycles)."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from integrations.smile.models import SmileConnection
from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListItem, LoyaltyList, SmileCustomer, VipTier
from tests.lists.fakes import FakeSmile

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def smile_agrees_with_the_last_sync(monkeypatch):
    """The list form loads the tier list live from Smile; by default "Smile" answers with the tiers
    already stored (tests that care patch ``client_for_merchant`` again)."""
    from integrations.smile.types import VipTierData

    class StoredTiers:
        def __init__(self, merchant, **kwargs):
            self.merchant = merchant

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def list_vip_tiers(self):
            rows = VipTier.objects.filter(merchant=self.merchant, exists_in_smile=True)
            return [VipTierData(id=t.smile_id, name=t.name, milestone=t.milestone) for t in rows]

    monkeypatch.setattr("integrations.smile.services.client_for_merchant", StoredTiers)


@pytest.fixture
def merchant(merchant_a):
    return merchant_a[0]


@pytest.fixture
def user(merchant_a):
    return merchant_a[1]


@pytest.fixture
def other_merchant(merchant_b):
    return merchant_b[0]


@pytest.fixture
def staff(client, user):
    client.force_login(user)
    return client


def connect(merchant, status=SmileConnection.Status.CONNECTED):
    connection = SmileConnection(
        merchant=merchant,
        auth_kind="oauth",
        status=status,
        scopes="customer:read vip_tier:read",
        account_id="42",
        connected_at=timezone.now(),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    connection.set_tokens(access_token="at-test", refresh_token="rt-test")
    connection.save()
    return connection


@pytest.fixture
def connected(merchant):
    return connect(merchant)


def make_tier(merchant, smile_id, name, milestone=0, exists=True):
    return VipTier.objects.create(
        merchant=merchant,
        smile_id=smile_id,
        name=name,
        milestone=milestone,
        exists_in_smile=exists,
        last_seen_at=timezone.now(),
    )


def make_list(merchant, name="All members", audience="all_members", tier=None, **fields):
    return LoyaltyList.objects.create(
        merchant=merchant, name=name, audience=audience, vip_tier_id=tier, **fields
    )


_ids = itertools.count(1_000)


def make_items(lst, specs):
    """specs: dicts with any ListItem field (email required); returns the items, in id order."""
    now = timezone.now()
    items = [
        ListItem(
            merchant_id=lst.merchant_id,
            list=lst,
            smile_customer_id=spec.pop("smile_customer_id", next(_ids)),
            state=spec.pop("state", "member"),
            added_at=now,
            updated_at=now,
            **spec,
        )
        for spec in (dict(s) for s in specs)
    ]
    ListItem.objects.bulk_create(items, batch_size=2000)
    lst.item_count = ListItem.objects.filter(list=lst).count()
    lst.last_published_at = lst.last_published_at or now
    lst.published_seq = lst.published_seq or 1
    lst.save()
    return list(ListItem.objects.filter(list=lst).order_by("id"))


def make_customer(merchant, smile_id, email, state="member", points=0, tier=None, tier_name=None, **fields):
    return SmileCustomer.objects.create(
        merchant=merchant,
        smile_id=smile_id,
        email=email,
        state=state,
        points_balance=points,
        vip_tier_id=tier,
        vip_tier_name=tier_name,
        smile_created_at=T0,
        smile_updated_at=T0,
        loyalty_member_since=T0 if state == "member" else None,
        last_seen_at=timezone.now(),
        **fields,
    )


@pytest.fixture
def smile():
    return FakeSmile()


@pytest.fixture
def cycle(merchant, smile):
    """Run one real sync cycle of ``merchant`` against the in-memory Smile."""

    def run(kind="delta"):
        return services.sync_cycle_run(merchant_id=merchant.pk, kind=kind, client=smile)

    return run


def rows(body: str) -> list[str]:
    """The table rows of a page, as HTML snippets."""
    import re

    return re.findall(r"<tr\b.*?</tr>", body, flags=re.S)


def row_with(body: str, text: str) -> str:
    matching = [row for row in rows(body) if text in row and "<td" in row]
    assert len(matching) == 1, f"{len(matching)} rows contain {text!r}"
    return matching[0]


def start_run(merchant, kind="delta", **fields):
    """A cycle a live worker is running now: a running run, and the merchant's lease held by it."""
    from loyalty_lists.lists.models import SyncLease, SyncRun

    SyncLease.objects.update_or_create(
        merchant=merchant, defaults={"holder": "worker", "expires_at": timezone.now() + timedelta(minutes=5)}
    )
    return SyncRun.objects.create(merchant=merchant, kind=kind, started_at=timezone.now(), **fields)
