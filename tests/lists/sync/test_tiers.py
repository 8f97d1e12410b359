"""VIP tiers: renames, vanished tiers (stale lists), returning tiers."""

from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListItem, ListRunResult, LoyaltyList, VipTier

from ..conftest import assert_lists_match, items_of


def test_tiers_are_stored_with_their_milestones(smile, run_cycle):
    smile.add_tier("Silver", 100, tier_id=11)
    smile.add_tier("Gold", 500, tier_id=12)
    run_cycle()
    assert list(VipTier.objects.values_list("smile_id", "name", "milestone", "exists_in_smile")) == [
        (11, "Silver", 100.0, True),
        (12, "Gold", 500.0, True),
    ]


def test_a_renamed_tier_renames_vip_tier_name_in_every_list(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 500)
    cid = smile.add("g@example.com", tier=gold)
    lists = [make_list("all_members"), make_list("vip_tier", gold)]
    run_cycle()
    smile.rename_tier(gold, "Golden")

    run = run_cycle()  # the customer did not change: only the tier list did

    assert [items_of(lst)[cid].vip_tier_name for lst in lists] == ["Golden", "Golden"]
    assert VipTier.objects.get(smile_id=gold).name == "Golden"
    assert run.items_changed == 2


def test_a_list_whose_tier_vanished_becomes_stale_with_the_reason_and_is_frozen(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 500)
    first = smile.add("g1@example.com", tier=gold)
    tier_list, members = make_list("vip_tier", gold), make_list("all_members")
    run_cycle()
    smile.delete_tier(gold)
    smile.update(first, points=99)
    smile.add("g2@example.com", tier=gold)  # Smile still reports the old tier id on some customers

    run = run_cycle()

    tier_list.refresh_from_db()
    assert (
        tier_list.is_stale
        and "Gold" in tier_list.stale_reason
        and "no longer exists" in tier_list.stale_reason
    )
    assert set(items_of(tier_list)) == {first} and items_of(tier_list)[first].points_balance == 0, "frozen"
    assert ListRunResult.objects.get(run=run, list=tier_list).outcome == "stale"
    assert not VipTier.objects.get(smile_id=gold).exists_in_smile
    assert items_of(members)[first].vip_tier_name is None, "names come from this cycle's tier list"
    assert run.status == "succeeded"


def test_a_stale_list_recovers_when_its_tier_comes_back(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 500)
    smile.add("g1@example.com", tier=gold)
    tier_list = make_list("vip_tier", gold)
    run_cycle()
    smile.delete_tier(gold)
    run_cycle()
    smile.add("g2@example.com", tier=gold)
    smile.add_tier("Gold", 500, tier_id=gold)

    run = run_cycle()

    tier_list.refresh_from_db()
    assert not tier_list.is_stale and tier_list.stale_reason == ""
    assert_lists_match([tier_list], smile)
    assert len(items_of(tier_list)) == 2
    assert ListRunResult.objects.get(run=run, list=tier_list).outcome == "published"


def test_a_webhook_refresh_leaves_a_stale_list_alone(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 500)
    cid = smile.add("g@example.com", tier=gold)
    tier_list = make_list("vip_tier", gold)
    run_cycle()
    smile.delete_tier(gold)
    run_cycle()
    smile.update(cid, state="disabled")

    services.customer_refresh(merchant_id=tier_list.merchant_id, smile_customer_id=cid, client=smile)

    assert set(items_of(tier_list)) == {cid}


def test_refreshing_tiers_outside_a_cycle_keeps_snapshot_names_consistent(
    smile, run_cycle, make_list, merchant
):
    gold = smile.add_tier("Gold", 500)
    cid = smile.add("g@example.com", tier=gold)
    members = make_list("all_members")
    run_cycle()
    smile.rename_tier(gold, "Au")

    changes = services.vip_tiers_refresh(merchant=merchant, client=smile)
    run_cycle()

    assert changes.renamed == [gold]
    assert items_of(members)[cid].vip_tier_name == "Au"


def test_a_tier_list_can_only_be_created_for_a_tier_smile_has(smile, run_cycle, merchant):
    import pytest
    from django.core.exceptions import ValidationError

    gold = smile.add_tier("Gold", 500)
    run_cycle()
    lst = services.list_create(
        merchant=merchant, name="Gold", audience="vip_tier", vip_tier_id=gold, enqueue=False
    )
    assert lst.vip_tier_id == gold
    with pytest.raises(ValidationError):
        services.list_create(merchant=merchant, name="X", audience="vip_tier", vip_tier_id=999, enqueue=False)
    with pytest.raises(ValidationError):
        services.list_create(merchant=merchant, name="X", audience="vip_tier", enqueue=False)
    assert LoyaltyList.objects.count() == 1 and ListItem.objects.count() == 0


def test_a_stale_list_follows_its_tier_when_it_is_re_created_under_a_new_id(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 500)
    cid = smile.add("g@example.com", tier=gold)
    tier_list = make_list("vip_tier", gold)
    run_cycle()
    smile.delete_tier(gold)
    smile.update(cid, tier=None)
    run_cycle()
    new_gold = smile.add_tier(" gold ", 600)
    smile.add_tier("Silver", 100)
    smile.update(cid, tier=new_gold)

    run_cycle()

    tier_list.refresh_from_db()
    assert (tier_list.is_stale, tier_list.vip_tier_id) == (False, new_gold)
    assert_lists_match([tier_list], smile)
    assert items_of(tier_list)[cid].vip_tier_name == " gold "


def test_a_stale_list_stays_stale_when_several_tiers_could_be_its_successor(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 500)
    tier_list = make_list("vip_tier", gold)
    run_cycle()
    smile.delete_tier(gold)
    run_cycle()
    smile.add_tier("Gold", 600)
    smile.add_tier("GOLD", 700)
    run_cycle()
    tier_list.refresh_from_db()
    assert tier_list.is_stale and tier_list.vip_tier_id == gold


def test_a_rename_seen_only_by_a_failed_cycle_does_not_leave_old_names_behind(
    smile, run_cycle, make_list, monkeypatch
):
    from loyalty_lists.lists.sync import cycle

    gold = smile.add_tier("Gold", 500)
    cid = smile.add("g@example.com", tier=gold)
    smile.age()  # so that the last delta below re-reads no customer
    members = make_list("all_members")
    run_cycle()
    smile.rename_tier(gold, "Golden")

    def fail(**kwargs):
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(cycle, "publish_lists", fail)  # the whole walk reached the snapshot, then it failed
        assert run_cycle("full").status == "failed"
    smile.rename_tier(gold, "Gold")  # renamed back before the next good cycle
    assert run_cycle().status == "succeeded"

    assert items_of(members)[cid].vip_tier_name == "Gold"


def test_a_namesake_that_existed_beside_a_deleted_tier_does_not_take_its_list(
    merchant, smile, run_cycle, make_list
):
    """Two tiers named alike; one is deleted: its list goes stale, it does not jump to the other one."""
    gold, twin = smile.add_tier("Gold", 1000), smile.add_tier("Gold", 1500)
    member = smile.add("g@example.com", tier=gold)
    smile.add("t@example.com", tier=twin)
    gold_list = make_list("vip_tier", gold, name="Gold VIPs")
    run_cycle()

    smile.delete_tier(gold)
    smile.update(member, tier=None)
    run_cycle()

    gold_list.refresh_from_db()
    assert gold_list.is_stale and gold_list.vip_tier_id == gold
    assert set(items_of(gold_list)) == {member}

    regold = smile.add_tier("Gold", 1000)  # a Gold created after: still two namesakes, so no guess
    run_cycle()
    gold_list.refresh_from_db()
    assert gold_list.is_stale
    smile.delete_tier(twin)  # now exactly one Gold, created after the list went stale: its return
    run_cycle()
    gold_list.refresh_from_db()
    assert not gold_list.is_stale and gold_list.vip_tier_id == regold
