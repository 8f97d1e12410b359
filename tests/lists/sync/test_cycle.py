"""A sync cycle against the in-memory Smile: delta and full, deletions, list changes, metadata."""

import threading
from datetime import timedelta

from loyalty_lists.lists.models import ListChange, ListItem, ListRunResult, SmileCustomer, SyncRun, SyncState
from loyalty_lists.lists.sync.cycle import SAFETY_OVERLAP

from ..conftest import assert_lists_match, items_of
from ..fakes import FakeSmile


def test_the_first_sync_is_a_full_reconcile_that_fills_every_list(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 100)
    smile.add_many(5)
    smile.add("cand@example.com", state="candidate", tier=gold)
    smile.add(None)
    smile.add("dis@example.com", state="disabled", tier=gold)
    smile.age()
    lists = [make_list("all_members"), make_list("members_and_candidates"), make_list("vip_tier", gold)]

    run = run_cycle()  # asked for a delta: there is no watermark yet, so it is a full reconcile

    assert (run.kind, run.status) == ("full", "succeeded"), run.error_message
    assert_lists_match(lists, smile)
    assert [len(items_of(lst)) for lst in lists] == [5, 6, 1]
    assert run.customers_fetched == 8 and run.lists_published == 3 and run.items_added == 12
    joined = ListChange.objects.filter(run=run)
    assert joined.count() == 12 and set(joined.values_list("kind", flat=True)) == {"joined"}, (
        "a first fill records every member as joined: the change feed rebuilds lists from their start"
    )
    results = ListRunResult.objects.filter(run=run)
    assert sorted(r.added for r in results) == [1, 5, 6]
    assert all(r.note.startswith("First fill") for r in results)
    for lst in lists:
        lst.refresh_from_db()
        assert lst.first_filled_at is not None
        assert {i.added_at for i in items_of(lst).values()} == {lst.first_filled_at}

    smile.add("late@example.com")  # later runs record changes as before
    later = run_cycle()
    assert ListChange.objects.filter(run=later, kind="joined").count() == 2
    assert not ListRunResult.objects.filter(run=later).exclude(note="").exists()


def test_a_full_walk_runs_one_cursor_chain_per_state_then_catches_up_on_changes(smile, run_cycle, make_list):
    smile.add_many(3)
    run = run_cycle("full")
    walk, catch_up = smile.requests[:3], smile.requests[3:]
    assert {r["state"] for r in walk} == {"member", "candidate", "disabled"}
    assert all(r["updated_at_min"] is None for r in walk)
    assert catch_up == [{"state": None, "updated_at_min": run.started_at - SAFETY_OVERLAP, "cursor": None}]


def test_a_delta_asks_for_customers_updated_since_the_watermark_minus_the_overlap(
    smile, run_cycle, make_list
):
    smile.add_many(2)
    first = run_cycle()
    watermark = SyncState.objects.get(merchant_id=first.merchant_id).watermark
    assert first.started_at < watermark < first.finished_at, "a full cycle: when its catch-up pass started"
    smile.requests.clear()

    second = run_cycle()

    assert second.kind == "delta"
    assert smile.requests == [{"state": None, "updated_at_min": watermark - SAFETY_OVERLAP, "cursor": None}]
    assert SyncState.objects.get(merchant_id=first.merchant_id).watermark == second.started_at


def test_a_delta_publishes_joins_leaves_and_changes_as_list_changes(smile, run_cycle, make_list):
    bronze, gold = smile.add_tier("Bronze", 0), smile.add_tier("Gold", 500)
    stays, leaves, climbs, drops, earns = (smile.add(f"c{n}@example.com", tier=bronze) for n in range(5))
    smile.update(drops, tier=gold)
    members = make_list("all_members")
    run_cycle()
    joins = smile.add("new@example.com")
    smile.update(leaves, state="disabled")
    smile.update(climbs, tier=gold)
    smile.update(drops, tier=bronze)
    smile.update(earns, points=250)

    run = run_cycle()

    assert run.kind == "delta"
    assert_lists_match([members], smile)
    changes = {(c.smile_customer_id, c.kind) for c in ListChange.objects.filter(run=run)}
    assert changes == {
        (joins, "joined"),
        (leaves, "left"),
        (climbs, "tier_up"),
        (drops, "tier_down"),
        (earns, "metadata_changed"),
    }
    climb = ListChange.objects.get(run=run, smile_customer_id=climbs)
    assert (climb.previous_vip_tier_name, climb.vip_tier_name) == ("Bronze", "Gold")
    assert items_of(members)[earns].points_balance == 250
    assert items_of(members)[climbs].vip_tier_name == "Gold"
    result = ListRunResult.objects.get(run=run, list=members)
    assert (result.outcome, result.added, result.removed, result.changed) == ("published", 1, 1, 3)
    assert (run.items_added, run.items_removed, run.items_changed) == (1, 1, 3)
    members.refresh_from_db()
    assert members.item_count == 5 and stays in items_of(members)


def test_a_delta_re_examines_only_what_changed(smile, run_cycle, make_list):
    smile.add_many(50)
    members = make_list("all_members")
    run_cycle()
    before = {i.smile_customer_id: i.updated_at for i in ListItem.objects.filter(list=members)}
    smile.update(3, points=9)

    run = run_cycle()

    assert run.items_changed == 1
    after = {i.smile_customer_id: i.updated_at for i in ListItem.objects.filter(list=members)}
    assert [cid for cid in after if after[cid] != before[cid]] == [3]


def test_a_customer_deleted_from_smile_leaves_every_list_at_the_next_full_reconcile(
    smile, run_cycle, make_list
):
    gold = smile.add_tier("Gold", 100)
    keep, gone = smile.add("keep@example.com", tier=gold), smile.add("gone@example.com", tier=gold)
    lists = [make_list("all_members"), make_list("vip_tier", gold)]
    run_cycle()
    smile.delete(gone)

    delta = run_cycle("delta")
    assert gone in items_of(lists[0]), "a delta cannot see deletions"

    full = run_cycle("full")

    assert full.customers_gone == 1
    assert_lists_match(lists, smile)
    assert keep in items_of(lists[1])
    assert SmileCustomer.objects.get(smile_id=gone).gone_at is not None
    assert ListChange.objects.filter(run=full, kind="left", smile_customer_id=gone).count() == 2
    assert delta.status == full.status == "succeeded"


def test_a_customer_who_moves_between_state_chains_during_a_full_walk_is_not_dropped(
    smile, run_cycle, make_list
):
    # The candidate chain has passed the shopper (then disabled) before they become a candidate, and the
    # disabled chain starts after: no page shows them. The engine re-checks the few customers a walk did
    # not see with GET /customers/{id} before treating them as deleted.
    both = make_list("members_and_candidates")
    mover = smile.add("mover@example.com", state="member")
    smile.add_many(3)
    smile.age()
    run_cycle("full")
    candidate_chain_done = threading.Event()

    class MovesDuringTheWalk(FakeSmile):
        def iter_customer_pages(self, *, state=None, **kwargs):
            if state == "disabled":
                assert candidate_chain_done.wait(5)
                self.update(mover, state="candidate", touch=False)
            yield from super().iter_customer_pages(state=state, **kwargs)
            if state == "candidate":
                candidate_chain_done.set()

    moving = MovesDuringTheWalk()
    moving.customers, moving.tiers = smile.customers, smile.tiers
    moving.update(mover, state="disabled", touch=False)  # changes Smile does not stamp: no delta sees them

    run = run_cycle("full", client=moving)

    assert run.status == "succeeded", run.error_message
    assert (run.customers_gone, moving.get_calls) == (0, 1)
    assert items_of(both)[mover].state == "candidate"


def test_loyalty_member_since_is_created_at_for_a_shopper_first_seen_as_a_member(smile, run_cycle, make_list):
    members = make_list("all_members")
    cid = smile.add("m@example.com")
    run_cycle()
    assert items_of(members)[cid].loyalty_member_since == smile.customers[cid].created_at


def test_loyalty_member_since_is_when_a_sync_first_saw_the_shopper_become_a_member(
    smile, run_cycle, make_list
):
    both = make_list("members_and_candidates")
    cid = smile.add("c@example.com", state="candidate")
    run_cycle()
    assert items_of(both)[cid].loyalty_member_since is None

    smile.update(cid, state="member")
    promoted = run_cycle()
    since = items_of(both)[cid].loyalty_member_since
    assert promoted.started_at <= since <= promoted.finished_at

    smile.update(cid, points=10)
    run_cycle()
    run_cycle("full")
    assert items_of(both)[cid].loyalty_member_since == since, "never moves forward while they stay a member"

    smile.update(cid, state="candidate")
    run_cycle()
    assert items_of(both)[cid].loyalty_member_since is None
    smile.update(cid, state="member")
    again = run_cycle()
    assert items_of(both)[cid].loyalty_member_since >= again.started_at > since


def test_list_items_carry_the_loyalty_metadata(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 100)
    expires = smile.tick() + timedelta(days=300)
    cid = smile.add("  Meta@Example.com ", points=1234, tier=gold, expires=expires)
    members = make_list("all_members")
    run_cycle()
    item = items_of(members)[cid]
    assert (item.email, item.points_balance, item.vip_tier_name, item.state) == (
        "meta@example.com",
        1234,
        "Gold",
        "member",
    )
    assert item.vip_tier_expires_at == expires


def test_shoppers_sharing_an_email_are_separate_items(smile, run_cycle, make_list):
    first, second = smile.add("twin@example.com"), smile.add("TWIN@example.com ")
    members = make_list("all_members")
    run_cycle()
    assert set(items_of(members)) == {first, second}
    assert {i.email for i in items_of(members).values()} == {"twin@example.com"}


def test_a_new_list_is_filled_whole_by_the_next_cycle(smile, run_cycle, make_list):
    smile.add_many(4)
    run_cycle()
    late = make_list("members_and_candidates")
    run = run_cycle()
    assert len(items_of(late)) == 4
    assert ListRunResult.objects.get(run=run, list=late).added == 4


def test_cycles_of_two_merchants_never_mix(merchant_factory, smile, make_list):
    from loyalty_lists.lists import services

    other_merchant, _ = merchant_factory("other")
    other_smile = FakeSmile()
    smile.add("mine@example.com")
    other_smile.add("theirs@example.com")
    mine = make_list("all_members")
    theirs = services.list_create(merchant=other_merchant, name="x", audience="all_members", enqueue=False)

    services.sync_cycle_run(merchant_id=mine.merchant_id, kind="full", client=smile)
    services.sync_cycle_run(merchant_id=other_merchant.pk, kind="full", client=other_smile)

    assert [i.email for i in ListItem.objects.filter(list=mine)] == ["mine@example.com"]
    assert [i.email for i in ListItem.objects.filter(list=theirs)] == ["theirs@example.com"]
    assert set(SmileCustomer.objects.filter(merchant=other_merchant).values_list("email", flat=True)) == {
        "theirs@example.com"
    }
    assert SyncRun.objects.filter(merchant=other_merchant).count() == 1
