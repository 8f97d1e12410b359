"""The hot path's hand-written queries return what the ORM selectors they stand for return."""

from datetime import timedelta

import pytest

from loyalty_lists.api.keys import _key_for_prefix, api_key_create
from loyalty_lists.api.lookup import as_of, lists_with_items, snapshot_customers
from loyalty_lists.lists.models import ListItem, LoyaltyList, SmileCustomer
from loyalty_lists.lists.selectors import items_for_email, lists_for_merchant

from .conftest import T0, make_customer, make_item, make_list, make_run

pytestmark = pytest.mark.django_db


def test_the_key_query_matches_the_orm(shop):
    key, _ = api_key_create(merchant=shop, name="Workflows")
    ours = _key_for_prefix(key.prefix)
    theirs = type(key).objects.select_related("merchant").get(prefix=key.prefix)
    for field in ("pk", "merchant_id", "name", "prefix", "secret_hash", "last_used_at", "revoked_at"):
        assert getattr(ours, field) == getattr(theirs, field)
    assert (ours.merchant.pk, ours.merchant.slug, ours.merchant.created_at) == (
        shop.pk,
        shop.slug,
        theirs.merchant.created_at,
    )
    assert ours.merchant.created_at.tzinfo is not None
    assert _key_for_prefix("nosuchprefix") is None


def test_the_lists_query_matches_lists_for_merchant(shop, other_shop):
    make_list(shop, "b")
    make_list(shop, "a", stale_since=T0, stale_reason="Gone.")
    make_list(shop, "a")
    theirs = make_list(other_shop, "a")
    expected = list(lists_for_merchant(merchant=shop))
    loaded = _lists(shop)
    assert [lst.pk for lst in loaded] == [lst.pk for lst in expected]
    for ours, orm in zip(loaded, expected, strict=True):
        for field in ("name", "audience", "vip_tier_id", "stale_since", "stale_reason", "merchant_id"):
            assert getattr(ours, field) == getattr(orm, field)
    ids = [expected[1].pk, theirs.pk, 999_999]
    assert [lst.pk for lst in _lists(shop, ids=ids)] == [expected[1].pk]
    assert _lists(shop, ids=[]) == []


def _lists(shop, ids=None):
    found, _ = lists_with_items(merchant_id=shop.pk, email="nobody@example.com", ids=ids)
    assert all(m.list.pk == pk and not m.items for pk, m in found.items())
    return [m.list for m in found.values()]


def test_the_items_query_matches_items_for_email(shop, other_shop):
    first, second = make_list(shop, "one"), make_list(shop, "two")
    expires = T0 + timedelta(days=90)
    make_item(second, "twin@example.com", smile_id=8, tier=12, tier_name="Gold", vip_tier_expires_at=expires)
    make_item(first, "twin@example.com", smile_id=9)
    make_item(first, "twin@example.com", smile_id=3, state="candidate")
    make_item(first, "other@example.com", smile_id=4)
    make_item(make_list(other_shop), "twin@example.com", smile_id=5)
    make_list(shop, "three")  # holds no item with this email
    expected = list(items_for_email(merchant=shop, email="twin@example.com", lists=[first.pk, second.pk]))
    found, _ = lists_with_items(merchant_id=shop.pk, email="twin@example.com")
    assert [m.list.name for m in found.values()] == ["one", "three", "two"]
    flat = [(list_id, item) for list_id in sorted(found) for item in found[list_id].items]
    assert len(flat) == len(expected)
    for (list_id, ours), orm in zip(flat, expected, strict=True):
        assert list_id == orm.list_id
        assert ours == {field: getattr(orm, field) for field in ours}
    assert flat[-1][1]["vip_tier_expires_at"] == expires


def test_the_snapshot_query_matches_the_orm(shop, other_shop):
    make_customer(shop, "ann@example.com", smile_id=20, gone_at=T0)
    make_customer(shop, "ann@example.com", smile_id=10, tier=12)
    make_customer(other_shop, "ann@example.com", smile_id=30)
    expected = SmileCustomer.objects.filter(merchant=shop, email="ann@example.com").order_by("smile_id")
    ours = snapshot_customers(merchant_id=shop.pk, email="ann@example.com")
    for field in ("smile_id", "state", "vip_tier_id", "last_seen_at", "gone_at", "email"):
        assert [getattr(c, field) for c in ours] == [getattr(c, field) for c in expected]


def test_as_of_reads_the_merchants_watermark_with_or_without_lists(shop, other_shop):
    assert as_of(merchant_id=shop.pk) is None
    assert lists_with_items(merchant_id=shop.pk, email="a@example.com") == ({}, None)
    make_list(shop)
    assert lists_with_items(merchant_id=shop.pk, email="a@example.com")[1] is None
    make_run(shop, started_at=T0)
    make_run(other_shop, started_at=T0 + timedelta(hours=1))
    assert as_of(merchant_id=shop.pk) == T0
    for ids in (None, [], [999_999]):  # with the lists in one query, or alone
        assert lists_with_items(merchant_id=shop.pk, email="a@example.com", ids=ids)[1] == T0


def test_loaded_lists_are_real_instances_that_load_the_rest_on_demand(shop):
    make_list(shop, "x")
    (loaded,) = _lists(shop)
    assert isinstance(loaded, LoyaltyList) and not loaded._state.adding
    assert loaded.created_at == LoyaltyList.objects.get().created_at  # a deferred field, fetched
    assert ListItem.objects.filter(list=loaded).count() == 0


def test_instances_are_what_from_db_builds_and_signals_still_fire_when_connected(shop):
    from django.db.models.signals import post_init

    from loyalty_lists.api import rawsql
    from loyalty_lists.api.keys import KEY_FIELDS

    key, _ = api_key_create(merchant=shop, name="Workflows")
    row = rawsql.fetch(f"SELECT {rawsql.columns(type(key), KEY_FIELDS)} FROM {rawsql.table(type(key))}", [])[
        0
    ]
    fast = rawsql.instance(type(key), KEY_FIELDS, row)
    slow = type(key).objects.only(*KEY_FIELDS).get(pk=key.pk)  # what the ORM builds (from_db)
    assert {k: v for k, v in fast.__dict__.items() if k != "_state"} == {
        k: v for k, v in slow.__dict__.items() if k != "_state"
    }
    assert (fast._state.adding, fast._state.db) == (slow._state.adding, slow._state.db) == (False, "default")
    assert fast == slow and fast.created_at == key.created_at  # a deferred field, loaded on access
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver)
    try:
        again = rawsql.instance(type(key), KEY_FIELDS, row)
    finally:
        post_init.disconnect(receiver)
    assert seen == [again]  # with a receiver connected, instances go through __init__
