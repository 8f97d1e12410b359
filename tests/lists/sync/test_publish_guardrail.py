"""The removal guardrail: a run that would remove > 20 % of a list of >= 100 items is held for it."""

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from loyalty_lists.lists import services
from loyalty_lists.lists.explain import Evidence, explain
from loyalty_lists.lists.models import ListChange, ListRunResult

from ..conftest import assert_lists_match, items_of


@pytest.fixture
def big_list(smile, run_cycle, make_list):
    ids = smile.add_many(100)
    members = make_list("all_members", name="Members")
    candidates = make_list("members_and_candidates", name="Everyone")
    run_cycle()
    return members, candidates, ids


def test_a_mass_removal_is_held_and_nothing_is_published_for_that_list(smile, run_cycle, big_list, make_list):
    members, everyone, ids = big_list
    for cid in ids[:21]:
        smile.update(cid, state="candidate")  # leave "members", stay in "everyone"
    smile.update(ids[50], points=7)

    run = run_cycle()

    assert run.status == "held"
    held = ListRunResult.objects.get(run=run, list=members)
    assert (held.outcome, held.decision, held.removed, held.list_size) == ("held", "pending", 21, 100)
    assert len(items_of(members)) == 100 and items_of(members)[ids[50]].points_balance == 0, (
        "nothing published"
    )
    assert not ListChange.objects.filter(run=run, list=members).exists()
    assert ListRunResult.objects.get(run=run, list=everyone).outcome == "published"
    assert items_of(everyone)[ids[0]].state == "candidate", "the other lists are published"
    evidence = Evidence(merchant_id=members.merchant_id, email="shopper0@example.com", lists=[members])
    items = members.items.filter(email="shopper0@example.com")
    assert explain(list=members, items=items, evidence=evidence).reason_code == "held"


def test_exactly_the_threshold_is_not_held(smile, run_cycle, big_list):
    members, _, ids = big_list
    for cid in ids[:20]:
        smile.update(cid, state="disabled")
    assert run_cycle().status == "succeeded"
    assert len(items_of(members)) == 80


def test_small_lists_are_never_held(smile, run_cycle, make_list):
    ids = smile.add_many(99)
    members = make_list("all_members")
    run_cycle()
    for cid in ids[:90]:
        smile.delete(cid)
    assert run_cycle("full").status == "succeeded"
    assert len(items_of(members)) == 9


@override_settings(SYNC_REMOVAL_GUARDRAIL_PERCENT=50.0, SYNC_REMOVAL_GUARDRAIL_MIN_ITEMS=10)
def test_the_thresholds_are_settings(smile, run_cycle, make_list):
    ids = smile.add_many(20)
    make_list("all_members")
    run_cycle()
    for cid in ids[:10]:
        smile.update(cid, state="disabled")
    assert run_cycle().status == "succeeded", "50 % of 20 is not more than 50 %"
    for cid in ids[10:16]:
        smile.update(cid, state="disabled")
    assert run_cycle().status == "held", "60 % of 10 is"


def test_approving_a_held_list_applies_it_from_the_current_snapshot(smile, run_cycle, big_list):
    members, _, ids = big_list
    for cid in ids[:30]:
        smile.update(cid, state="disabled")
    run = run_cycle()
    held = ListRunResult.objects.get(run=run, list=members, decision="pending")

    approved = services.held_run_approve(result=held)

    assert (approved.decision, approved.removed) == ("approved", 30)
    assert_lists_match([members], smile)
    assert ListChange.objects.filter(run=run, list=members, kind="left").count() == 30
    members.refresh_from_db()
    assert members.item_count == 70
    with pytest.raises(ValidationError):
        services.held_run_approve(result=held)
    smile.update(ids[40], points=5)
    later = run_cycle()
    assert ListRunResult.objects.get(run=later, list=members).outcome == "published", (
        "later cycles publish it"
    )
    assert items_of(members)[ids[40]].points_balance == 5


def test_discarding_a_held_list_keeps_it_and_the_next_cycle_decides_again(smile, run_cycle, big_list):
    members, _, ids = big_list
    for cid in ids[:30]:
        smile.update(cid, state="disabled")
    run = run_cycle()
    held = ListRunResult.objects.get(run=run, list=members)

    services.held_run_discard(result=held)

    held.refresh_from_db()
    assert held.decision == "discarded"
    assert len(items_of(members)) == 100
    again = run_cycle()
    assert again.status == "held", "Smile still says so: the next cycle holds the list again"
    assert ListRunResult.objects.get(run=again, list=members).decision == "pending"
    assert ListRunResult.objects.get(run=again, list=members).removed == 30


def test_a_later_publish_supersedes_a_pending_hold(smile, run_cycle, big_list):
    members, _, ids = big_list
    for cid in ids[:30]:
        smile.update(cid, state="disabled")
    first = run_cycle()
    for cid in ids[:30]:
        smile.update(cid, state="member")  # Smile fixed itself

    second = run_cycle()

    assert second.status == "succeeded"
    assert ListRunResult.objects.get(run=first, list=members).decision == "superseded"
    assert len(items_of(members)) == 100


def test_a_rule_change_is_published_whole_without_the_guardrail(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 500)
    silver = smile.add_tier("Silver", 100)
    ids = smile.add_many(200, tier=gold) + smile.add_many(20, tier=silver)
    lst = make_list("vip_tier", tier=gold, name="Tier list")
    run_cycle()
    assert len(items_of(lst)) == 200
    for cid in ids[:50]:  # a pending hold under the old rule: 50 of 200 leave Gold
        smile.update(cid, tier=silver)
    assert run_cycle().status == "held"
    hold = ListRunResult.objects.get(list=lst, decision="pending")

    services.list_update(list=lst, vip_tier_id=silver, enqueue=False)  # most of the 200 items leave

    hold.refresh_from_db()
    assert hold.decision == "superseded", "the old rule's hold no longer applies"
    run = run_cycle()
    assert run.status == "succeeded"
    result = ListRunResult.objects.get(run=run, list=lst)
    assert result.outcome == "published" and "rule changed" in result.note.lower()
    assert (result.removed, result.added, result.changed) == (150, 20, 50)
    assert_lists_match([lst], smile)
    lst.refresh_from_db()
    assert lst.rule_changed_at is None and lst.item_count == 70

    for cid in ids[200:]:  # later runs guard the list again
        smile.update(cid, state="disabled")
    with override_settings(SYNC_REMOVAL_GUARDRAIL_MIN_ITEMS=50):
        later = run_cycle()
    assert later.status == "held" and ListRunResult.objects.get(run=later, list=lst).note == ""


def test_while_a_hold_waits_a_small_later_removal_joins_it_instead_of_slipping_past(
    merchant, smile, run_cycle, make_list, settings
):
    from loyalty_lists.lists import services as list_services
    from loyalty_lists.lists.models import ListItem, ListRunResult

    settings.SYNC_REMOVAL_GUARDRAIL_MIN_ITEMS = 10
    ids = smile.add_many(100)
    smile.age()
    members = make_list("all_members")
    run_cycle()
    for cid in ids[:30]:
        smile.update(cid, state="candidate")
    assert run_cycle().status == "held"
    hold = ListRunResult.objects.get(list=members, decision="pending")
    assert hold.removed == 30

    smile.update(ids[30], state="candidate")  # one more leaves: 1 % alone, under any threshold
    list_services.customer_refresh(merchant_id=merchant.pk, smile_customer_id=ids[30], client=smile)

    assert ListItem.objects.filter(list=members).count() == 100, "nothing slipped past the hold"
    newest = ListRunResult.objects.get(list=members, decision="pending")
    assert newest.removed == 31 and newest.pk != hold.pk
    list_services.held_run_approve(result=newest)
    assert ListItem.objects.filter(list=members).count() == 69
