"""explain(list, email): why a shopper is or is not in a list."""

from loyalty_lists.lists.explain import explain
from loyalty_lists.lists.models import LoyaltyList


def test_it_explains_every_reason(smile, run_cycle, make_list):
    gold, silver = smile.add_tier("Gold", 500), smile.add_tier("Silver", 100)
    smile.add("member@example.com", tier=gold)
    smile.add("cand@example.com", state="candidate")
    smile.add("off@example.com", state="disabled", tier=gold)
    smile.add("silver@example.com", tier=silver)
    deleted = smile.add("deleted@example.com")
    members, gold_list = make_list("all_members"), make_list("vip_tier", gold)
    run_cycle()
    smile.delete(deleted)
    run_cycle("full")

    def reason(lst, email):
        e = explain(list=lst, email=email)
        return e.member, e.reason_code

    assert reason(members, " Member@Example.com") == (True, "member")
    assert reason(members, "") == (False, "no_email")
    assert reason(members, "nobody@example.com") == (False, "not_in_smile")
    assert reason(members, "cand@example.com") == (False, "candidate")
    assert reason(members, "off@example.com") == (False, "disabled")
    assert reason(members, "deleted@example.com") == (False, "gone")
    assert reason(gold_list, "silver@example.com") == (False, "other_tier")
    assert reason(gold_list, "cand@example.com") == (False, "other_tier")
    assert reason(gold_list, "member@example.com") == (True, "member")


def test_a_member_answer_names_the_items_and_when_smile_was_last_seen(smile, run_cycle, make_list):
    a, b = smile.add("dup@example.com"), smile.add("DUP@example.com")
    members = make_list("all_members")
    run_cycle()
    members.refresh_from_db()
    e = explain(list=members, email="dup@example.com")
    assert e.member and [i.smile_customer_id for i in e.items] == [a, b]
    assert f"#{a}" in e.reason and "Last seen in Smile" in e.reason and e.last_seen_at is not None
    assert "since the list's first sync" in e.reason, "a first fill records no joined change"

    late = smile.add("late@example.com")
    run_cycle()
    e = explain(list=members, email="late@example.com")
    assert e.member and " since 20" in e.reason and "first sync" not in e.reason
    assert late


def test_a_stale_list_says_so(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 500)
    smile.add("g@example.com", tier=gold)
    gold_list = make_list("vip_tier", gold)
    run_cycle()
    smile.delete_tier(gold)
    run_cycle()
    e = explain(list=LoyaltyList.objects.get(pk=gold_list.pk), email="g@example.com")
    assert (e.member, e.reason_code) == (True, "list_stale")
    assert "no longer exists" in e.reason


def test_data_not_yet_published_is_pending(smile, run_cycle, make_list, merchant):
    from loyalty_lists.lists.models import SmileCustomer

    cid = smile.add("p@example.com")
    members = make_list("all_members")
    run_cycle()
    SmileCustomer.objects.filter(smile_id=cid).update(state="disabled")  # e.g. a failed cycle's fetch
    e = explain(list=members, email="p@example.com")
    assert (e.member, e.reason_code) == (True, "pending")
    assert "no longer belongs" in e.reason
