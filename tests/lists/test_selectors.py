"""Reads: lookups by email, last good sync."""

from datetime import UTC, datetime, timedelta

import pytest

from loyalty_lists.lists import selectors
from loyalty_lists.lists.models import ListItem, ListRunResult, LoyaltyList, SyncRun, SyncState


@pytest.fixture
def filled(merchant):
    lst = LoyaltyList.objects.create(merchant=merchant, name="L", audience="members_and_candidates")
    base = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(23):
        since = None if n % 4 == 0 else base + timedelta(days=n % 5)  # nulls and ties
        rows.append(
            ListItem(
                merchant=merchant,
                list=lst,
                smile_customer_id=100 + n,
                email=f"e{n % 7}@x.com",
                points_balance=n % 3,
                state="member" if since else "candidate",
                loyalty_member_since=since,
                added_at=base,
                updated_at=base,
            )
        )
    ListItem.objects.bulk_create(rows)
    return lst


def test_items_for_email_answers_for_every_smile_customer_in_a_documented_order(filled, merchant):
    other = LoyaltyList.objects.create(merchant=merchant, name="M", audience="all_members")
    base = datetime(2024, 1, 1, tzinfo=UTC)
    ListItem.objects.create(
        merchant=merchant,
        list=other,
        smile_customer_id=5,
        email="e1@x.com",
        state="member",
        added_at=base,
        updated_at=base,
    )
    items = list(selectors.items_for_email(merchant=merchant, email=" E1@X.com "))
    assert [(i.list_id, i.smile_customer_id) for i in items] == [
        (filled.pk, 101),
        (filled.pk, 108),
        (filled.pk, 115),
        (filled.pk, 122),
        (other.pk, 5),
    ]
    only_other = selectors.items_for_email(merchant=merchant, email="e1@x.com", lists=[other])
    assert [i.smile_customer_id for i in only_other] == [5]
    assert not selectors.items_for_email(merchant=merchant, email="").exists()


def test_lookups_never_cross_merchants(filled, merchant_factory):
    stranger, _ = merchant_factory("stranger")
    assert not selectors.items_for_email(merchant=stranger, email="e1@x.com").exists()
    assert not selectors.lists_for_merchant(merchant=stranger).exists()
    assert list(selectors.lists_for_merchant(merchant=filled.merchant)) == [filled]


def test_last_good_sync_skips_failed_and_webhook_runs(smile, run_cycle, make_list, merchant):
    smile.add("a@example.com")
    make_list("all_members")
    good = run_cycle()
    smile.fail_at(1)
    bad = run_cycle()
    assert bad.status == "failed"
    assert selectors.last_good_sync(merchant=merchant) == good
    assert selectors.latest_cycle_run(merchant=merchant) == bad
    assert list(selectors.sync_runs_for_merchant(merchant=merchant)) == [bad, good]


def test_lists_for_merchant_keeps_only_the_merchants_own_ids(filled, merchant, merchant_factory):
    stranger, _ = merchant_factory("stranger")
    theirs = LoyaltyList.objects.create(merchant=stranger, name="A", audience="all_members")
    mine = LoyaltyList.objects.create(merchant=merchant, name="A", audience="all_members")
    asked = [theirs.pk, filled.pk, mine.pk, 999_999]
    assert list(selectors.lists_for_merchant(merchant=merchant, ids=asked)) == [mine, filled]  # by name
    assert list(selectors.lists_for_merchant(merchant=stranger, ids=asked)) == [theirs]


def test_held_list_ids_and_as_of_are_the_merchants_own(filled, merchant, merchant_factory):
    stranger, _ = merchant_factory("stranger")
    base = datetime(2024, 1, 1, tzinfo=UTC)
    theirs = LoyaltyList.objects.create(merchant=stranger, name="T", audience="all_members")
    for owner, lst, started in ((merchant, filled, base), (stranger, theirs, base + timedelta(hours=1))):
        run = SyncRun.objects.create(merchant=owner, kind="delta", status="held", started_at=started)
        ListRunResult.objects.create(merchant=owner, run=run, list=lst, outcome="held", decision="pending")
        SyncState.objects.create(merchant=owner, watermark=started)
    decided = SyncRun.objects.create(merchant=merchant, kind="delta", status="held", started_at=base)
    other = LoyaltyList.objects.create(merchant=merchant, name="O", audience="all_members")
    ListRunResult.objects.create(
        merchant=merchant, run=decided, list=other, outcome="held", decision="approved"
    )
    asked = [filled.pk, theirs.pk, other.pk]
    assert set(selectors.held_list_ids(merchant_id=merchant.pk, lists=asked)) == {filled.pk}
    assert set(selectors.held_list_ids(merchant_id=stranger.pk, lists=asked)) == {theirs.pk}
    assert selectors.lists_as_of(merchant_id=merchant.pk) == base
    assert selectors.lists_as_of(merchant_id=stranger.pk) == base + timedelta(hours=1)
    assert selectors.lists_as_of(merchant_id=merchant_factory("new")[0].pk) is None
