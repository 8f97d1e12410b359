"""The change feed: a consumer that follows ``GET /api/v1/changes`` from the start rebuilds every list
exactly, through real cycles (first fills, deltas, full reconciles), webhook refreshes, a tier deleted
and re-created, a held run approved and another discarded, a rule change and a deleted list."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListChange, ListRunResult
from loyalty_lists.outbound.feed import feed_page
from loyalty_lists.outbound.retention import retention_run
from tests.support.feed_consumer import Lists, lists_now

pytestmark = pytest.mark.django_db


def refresh(merchant, smile, *cids):
    for cid in cids:
        services.customer_refresh_request(merchant_id=merchant.pk, smile_customer_id=cid)
    return services.customer_refresh_drain(merchant_id=merchant.pk, client=smile)


@override_settings(SYNC_REMOVAL_GUARDRAIL_PERCENT=30.0, SYNC_REMOVAL_GUARDRAIL_MIN_ITEMS=10)
def test_a_consumer_following_the_feed_from_the_start_rebuilds_every_list_exactly(
    merchant, smile, run_cycle, make_list, api
):
    gold, silver = smile.add_tier("Gold", 100), smile.add_tier("Silver", 50)
    members = smile.add_many(30)
    for cid in members[:12]:
        smile.update(cid, tier=gold)
    for cid in members[12:18]:
        smile.update(cid, tier=silver)
    smile.add("cand@example.com", state="candidate")
    smile.age()
    everyone = make_list("members_and_candidates")
    make_list("all_members")
    gold_list = make_list("vip_tier", gold, name="Gold")
    doomed = make_list("vip_tier", silver, name="Silver")
    consumer = Lists()

    assert run_cycle().status == "succeeded"  # first fills: every member "joined"
    cursor = consumer.follow(api)
    assert consumer.nonempty() == lists_now(merchant)

    smile.update(members[0], points=999)  # metadata
    smile.update(members[1], tier=silver)  # tier down (Gold list: left)
    smile.update(members[13], tier=gold)  # tier up (Gold list: joined)
    smile.update(members[20], state="candidate")  # leaves all members
    smile.add("new@example.com")
    assert run_cycle().status == "succeeded"
    refresh(merchant, smile, members[2])  # a webhook refresh with nothing new
    smile.update(members[3], email="renamed@example.com")
    refresh(merchant, smile, members[3])  # a webhook refresh that changes an email
    cursor = consumer.follow(api, after=cursor)
    assert consumer.nonempty() == lists_now(merchant)

    smile.delete_tier(gold)  # Gold goes stale, keeping its members...
    for cid in members[:12]:
        smile.update(cid, tier=None)
    assert run_cycle("full").status == "succeeded"
    new_gold = smile.add_tier("Gold", 100)  # ...and recovers (a new id, the same name), with 2 members
    for cid in members[:2]:
        smile.update(cid, tier=new_gold)
    assert run_cycle().status == "held"  # 10 of 12 leaving: held
    hold = ListRunResult.objects.get(list=gold_list, decision="pending")
    cursor = consumer.follow(api, after=cursor)
    assert consumer.nonempty() == lists_now(merchant), "a held list keeps its members, in the feed too"
    services.held_run_approve(result=hold)

    for cid in members[4:16]:  # most of the members leave at once: held, then discarded
        smile.update(cid, state="candidate")
    assert run_cycle().status == "held"
    services.held_run_discard(result=ListRunResult.objects.get(list__name="all_members", decision="pending"))
    services.list_update(list=everyone, audience="all_members", enqueue=False)  # a rule change
    assert run_cycle().status == "held", "the discarded removals are held again (all members)"
    services.list_delete(list=doomed)
    consumer.follow(api, after=cursor)

    assert consumer.nonempty() == lists_now(merchant)
    assert doomed.pk not in consumer.lists
    kinds = [e["kind"] for e in consumer.events]
    for kind in ListChange.Kind.values:
        assert kind in kinds, f"no {kind} in the feed"
    assert kinds.index("list_stale") < kinds.index("list_recovered") < kinds.index("list_held")
    assert kinds.index("list_held") < kinds.index("list_approved")
    cursors = [int(e["cursor"]) for e in consumer.events]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)


def test_list_events_say_what_happened(merchant, smile, run_cycle, make_list, api):
    gold = smile.add_tier("Gold", 100)
    smile.add_many(3, tier=gold)
    lst = make_list("vip_tier", gold, name="Gold")
    run_cycle()
    smile.delete_tier(gold)
    run_cycle()

    page = api.get("/api/v1/changes", {"kinds": ["list_stale"]}).json()
    (event,) = page["items"]
    assert event["list_id"] == lst.pk and event["shopper"] is None and event["run_id"] is None
    assert "Gold" in event["list_event"]["reason"] and event["list_event"]["vip_tier_id"] == gold
    assert event["occurred_at"].endswith("Z")


def test_filters_skip_what_they_do_not_want_without_rescanning_it(merchant, smile, run_cycle, make_list, api):
    smile.add_many(5)
    first, second = make_list("all_members"), make_list("members_and_candidates")
    run_cycle()

    page = api.get("/api/v1/changes", {"list_id": second.pk, "limit": 2}).json()
    assert [e["list_id"] for e in page["items"]] == [second.pk] * 2 and page["has_more"]
    rest = api.get("/api/v1/changes", {"list_id": second.pk, "after": page["next_cursor"]}).json()
    assert len(rest["items"]) == 3 and not rest["has_more"]
    latest = ListChange.objects.filter(merchant=merchant).order_by("-pk").first()
    assert rest["next_cursor"] == str(latest.pk), "the cursor moves past the other list's changes"
    assert first.pk not in {e["list_id"] for e in page["items"] + rest["items"]}
    assert api.get("/api/v1/changes", {"kinds": ["left"]}).json() == {
        "items": [],
        "next_cursor": str(latest.pk),
        "has_more": False,
    }


def test_another_merchants_list_or_changes_are_not_in_the_feed(
    merchant, smile, run_cycle, make_list, api, merchant_factory
):
    smile.add_many(2)
    make_list("all_members")
    run_cycle()
    other, _ = merchant_factory("other")
    theirs = services.list_create(merchant=other, name="Theirs", audience="all_members", enqueue=False)
    ListChange.objects.create(
        merchant=other,
        list=theirs,
        smile_customer_id=1,
        email="x@example.com",
        kind="joined",
        created_at=timezone.now(),
    )

    assert api.get("/api/v1/changes", {"list_id": theirs.pk}).status_code == 404
    items = api.get("/api/v1/changes").json()["items"]
    assert len(items) == 2 and theirs.pk not in {e["list_id"] for e in items}


def test_a_cursor_older_than_the_retention_is_a_410_never_a_silent_gap(
    merchant, smile, run_cycle, make_list, api, settings
):
    settings.CHANGE_FEED_RETENTION_DAYS = 30
    smile.add_many(4)
    make_list("all_members")
    run_cycle()
    old = list(ListChange.objects.filter(merchant=merchant).order_by("pk"))
    ListChange.objects.filter(pk__in=[c.pk for c in old[:3]]).update(
        created_at=timezone.now() - timedelta(days=31)
    )
    assert api.get("/api/v1/changes").status_code == 200

    assert retention_run(now=timezone.now())["changes"] == 3

    expired = api.get("/api/v1/changes")
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "cursor_expired"
    assert api.get("/api/v1/changes", {"after": str(old[1].pk)}).status_code == 410
    page = api.get("/api/v1/changes", {"after": str(old[2].pk)}).json()
    assert [e["cursor"] for e in page["items"]] == [str(old[3].pk)]
    position = api.get("/api/v1/changes/position").json()
    assert position == {"cursor": str(old[3].pk), "oldest_cursor": str(old[2].pk)}


def test_a_page_read_while_retention_removes_its_rows_is_a_410(
    merchant, smile, run_cycle, make_list, monkeypatch
):
    from loyalty_lists.outbound import feed
    from loyalty_lists.outbound.feed import CursorExpired

    smile.add_many(2)
    make_list("all_members")
    run_cycle()
    horizons = iter([0, 5, 5])  # before the read, then raised by a purge that ran meanwhile
    monkeypatch.setattr(feed, "feed_horizon", lambda merchant_id: next(horizons))
    with pytest.raises(CursorExpired):
        feed_page(merchant_id=merchant.pk, after=0, limit=10)


def test_a_bad_cursor_is_a_400(api):
    response = api.get("/api/v1/changes", {"after": "abc"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_cursor"
