"""Webhook refreshes go through the one door into a list: stale tiers, the removal guardrail over a
window, grouped history, coalesced requests, crash-safe claims."""

from datetime import timedelta

from django.utils import timezone

from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListChange, ListRunResult, LoyaltyList, RefreshRequest, SyncRun
from loyalty_lists.lists.sync import refresh

from ..conftest import assert_lists_match, items_of
from ..fakes import FakeSmile


def webhook(merchant, cid, updated_at=None):
    return services.customer_refresh_request(
        merchant_id=merchant.pk, smile_customer_id=cid, smile_updated_at=updated_at
    )


def drain(merchant, client):
    return services.customer_refresh_drain(merchant_id=merchant.pk, client=client)


class CountingSmile(FakeSmile):
    def __init__(self):
        super().__init__()
        self.tier_calls = 0

    def list_vip_tiers(self):
        self.tier_calls += 1
        return super().list_vip_tiers()


def test_a_tier_deleted_in_smile_makes_its_list_stale_with_its_members_on_the_first_webhook(
    merchant, make_list, run_cycle
):
    smile = CountingSmile()
    gold = smile.add_tier("Gold", 1000)
    golden = [smile.add(f"g{n}@example.com", tier=gold) for n in range(40)]
    smile.add("plain@example.com")
    members, gold_list = make_list("all_members"), make_list("vip_tier", gold, name="Gold VIPs")
    run_cycle(client=smile)
    frozen = set(items_of(gold_list))
    assert len(frozen) == 40

    smile.delete_tier(gold)  # Smile moves its customers out of the tier and sends a webhook for each
    for cid in golden:
        smile.update(cid, tier=None)
    for cid in golden:
        webhook(merchant, cid)
        drain(merchant, smile)  # one by one, as a burst drains under load

    gold_list.refresh_from_db()
    assert gold_list.is_stale and "Gold" in gold_list.stale_reason
    assert set(items_of(gold_list)) == frozen, "the stale list keeps every member"
    assert_lists_match([members], smile)
    assert all(
        item.vip_tier_name is None for item in items_of(members).values() if item.smile_customer_id in golden
    )
    assert smile.tier_calls == 2, "the cycle's and the first refresh's: the others see the list stale"
    stale_result = ListRunResult.objects.get(list=gold_list, outcome="stale")
    assert stale_result.run.kind == "webhook" and "webhook refresh" in stale_result.note
    assert set(ListChange.objects.filter(list=gold_list).values_list("kind", flat=True)) == {
        "joined",  # its first fill
        "list_stale",  # and nobody left it
    }

    # The tier comes back (Smile gives it a new id): the next cycle recovers the list.
    new_gold = smile.add_tier("Gold", 1000)
    smile.update(golden[0], tier=new_gold)
    assert run_cycle(client=smile).status == "succeeded"
    gold_list.refresh_from_db()
    assert not gold_list.is_stale and set(items_of(gold_list)) == {golden[0]}


def test_a_customer_who_really_leaves_a_tier_leaves_its_list(merchant, make_list, run_cycle, smile):
    gold, silver = smile.add_tier("Gold", 1000), smile.add_tier("Silver", 500)
    cid = smile.add("g@example.com", tier=gold)
    gold_list = make_list("vip_tier", gold)
    run_cycle()

    smile.update(cid, tier=silver)
    webhook(merchant, cid)
    run = drain(merchant, smile)

    gold_list.refresh_from_db()
    assert not gold_list.is_stale and items_of(gold_list) == {}
    assert ListChange.objects.get(run=run, list=gold_list).kind == "left"


def test_webhook_removals_count_together_for_the_guardrail_and_hold_the_list(merchant, make_list, run_cycle):
    smile = FakeSmile()
    cids = smile.add_many(200)
    members = make_list("all_members")
    run_cycle(client=smile)

    leaving = cids[:60]  # 30 % of the list turns candidate, one webhook at a time
    for cid in leaving:
        smile.update(cid, state="candidate")
        webhook(merchant, cid)
        drain(merchant, smile)

    members.refresh_from_db()
    assert members.item_count >= 160, f"drained to {members.item_count}: the guardrail did not hold"
    held = ListRunResult.objects.filter(list=members, outcome="held", decision="pending")
    assert held.count() == 1, "one pending decision, the newest hold"
    [hold] = held
    assert hold.run.kind == "webhook" and hold.run.status == "held"
    assert members.item_count == 160, "20 % published (the guardrail's share), then held"
    assert hold.removed == 20, "the hold says what an approval removes: everyone else who left"

    services.held_run_approve(result=hold)
    assert_lists_match([members], smile)


def test_a_burst_drained_at_once_is_held_like_one_run(merchant, make_list, run_cycle):
    smile = FakeSmile()
    cids = smile.add_many(150)
    members = make_list("all_members")
    run_cycle(client=smile)
    for cid in cids[:50]:
        smile.update(cid, state="disabled")
        webhook(merchant, cid)

    drain(merchant, smile)

    members.refresh_from_db()
    assert members.item_count == 150
    hold = ListRunResult.objects.get(list=members, outcome="held")
    assert hold.removed == 50 and (hold.run.kind, hold.run.status) == ("webhook", "held")


def test_removals_an_admin_approved_do_not_count_again(merchant, make_list, run_cycle):
    smile = FakeSmile()
    cids = smile.add_many(100)
    members = make_list("all_members")
    run_cycle(client=smile)
    for cid in cids[:30]:
        smile.update(cid, state="candidate")
        webhook(merchant, cid)
    drain(merchant, smile)
    services.held_run_approve(result=ListRunResult.objects.get(list=members, outcome="held"))

    smile.update(cids[50], state="candidate")
    webhook(merchant, cids[50])
    assert drain(merchant, smile).status == "succeeded"
    assert_lists_match([members], smile)


def test_refreshes_of_one_minute_are_one_history_row(merchant, make_list, run_cycle, smile):
    cids = smile.add_many(10)
    make_list("all_members")
    run_cycle()
    for cid in cids:
        smile.update(cid, points=7)
        webhook(merchant, cid)
        drain(merchant, smile)

    runs = SyncRun.objects.filter(kind="webhook")
    assert runs.count() <= 2  # (two when the minute turned meanwhile)
    assert sum(runs.values_list("items_changed", flat=True)) == 10
    assert sum(runs.values_list("customers_fetched", flat=True)) == 10


def test_a_refresh_leaves_lists_that_wait_for_their_first_fill_to_the_cycle(
    merchant, make_list, run_cycle, smile
):
    cid = smile.add("a@example.com")
    run_cycle()
    fresh = make_list("all_members")  # created after the cycle: not filled yet

    webhook(merchant, cid)
    drain(merchant, smile)

    assert items_of(fresh) == {}
    run_cycle()
    assert set(items_of(fresh)) == {cid}


def test_a_burst_is_fetched_by_pages_of_recently_updated_customers(merchant, make_list, run_cycle, smile):
    cids = smile.add_many(300)
    make_list("all_members")
    run_cycle()
    for cid in cids:
        changed = smile.update(cid, points=3)
        webhook(merchant, cid, changed.updated_at)
    pages_before, gets_before = smile.page_calls, smile.get_calls

    drain(merchant, smile)

    calls = (smile.page_calls - pages_before) + (smile.get_calls - gets_before)
    assert calls <= 6, f"{calls} Smile calls for 300 webhooks"
    assert not RefreshRequest.objects.exists()
    assert {i.points_balance for i in items_of(LoyaltyList.objects.get()).values()} == {3}


def test_a_dead_workers_claims_are_taken_again_after_the_claim_ttl(merchant, make_list, run_cycle, smile):
    cid = smile.add("a@example.com", points=1)
    members = make_list("all_members")
    run_cycle()
    smile.update(cid, points=9)
    webhook(merchant, cid)
    RefreshRequest.objects.update(claimed_by="dead-worker", claimed_at=timezone.now())  # mid-refresh, killed

    assert drain(merchant, smile) is None, "a live claim is left alone"
    RefreshRequest.objects.update(
        claimed_at=timezone.now() - refresh.REFRESH_CLAIM_TTL - timedelta(seconds=1)
    )
    drain(merchant, smile)

    assert items_of(members)[cid].points_balance == 9
    assert not RefreshRequest.objects.exists()


def test_a_webhook_during_a_refresh_of_the_same_customer_refreshes_it_again(merchant, make_list, run_cycle):
    class ChangesWhileFetched(FakeSmile):
        def get_customer(self, customer_id):
            answer = super().get_customer(customer_id)
            if not hasattr(self, "changed"):
                self.changed = self.update(customer_id, points=42)  # changes after our read...
                webhook(merchant, customer_id)  # ...and its webhook arrives meanwhile
            return answer

    smile = ChangesWhileFetched()
    cid = smile.add("a@example.com", points=1)
    members = make_list("all_members")
    run_cycle(client=smile)
    webhook(merchant, cid)

    drain(merchant, smile)

    assert items_of(members)[cid].points_balance == 42
    assert smile.get_calls == 2


def test_a_failed_refresh_keeps_the_request_for_a_later_drain(merchant, make_list, run_cycle, smile):
    from integrations.smile.errors import SmileUnavailable

    class Down(FakeSmile):
        def get_customer(self, customer_id):
            raise SmileUnavailable("Smile is unavailable", status=503)

    cid = smile.add("a@example.com", points=1)
    members = make_list("all_members")
    run_cycle()
    smile.update(cid, points=5)
    webhook(merchant, cid)

    assert drain(merchant, Down()).status == "failed"
    assert RefreshRequest.objects.get().attempts == 1
    drain(merchant, smile)
    assert items_of(members)[cid].points_balance == 5


def test_a_refresh_that_sees_a_stale_lists_tier_come_back_recomputes_the_list_whole(
    merchant, make_list, run_cycle, smile
):
    gold = smile.add_tier("Gold", 1000)
    kept = smile.add("kept@example.com", tier=gold)
    left = smile.add("left@example.com", tier=gold)
    gold_list = make_list("vip_tier", gold, name="Gold VIPs")
    run_cycle()
    smile.delete_tier(gold)
    smile.update(kept, tier=None)
    smile.update(left, tier=None)
    webhook(merchant, kept)
    drain(merchant, smile)
    gold_list.refresh_from_db()
    assert gold_list.is_stale and set(items_of(gold_list)) == {kept, left}

    new_gold = smile.add_tier("Gold", 1000)  # re-created (a new id); one shopper is back in it
    smile.update(kept, tier=new_gold)
    webhook(merchant, kept)
    drain(merchant, smile)

    gold_list.refresh_from_db()
    assert not gold_list.is_stale and gold_list.vip_tier_id == new_gold
    assert set(items_of(gold_list)) == {kept}, "recomputed whole at once, not left with its frozen members"
