"""explain(list, items, evidence): why a shopper is or is not in a list, from the rows it is given."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty_lists.lists.explain import Evidence
from loyalty_lists.lists.explain import explain as explain_rows
from loyalty_lists.lists.models import ListRunResult, LoyaltyList, SmileCustomer, SyncRun
from loyalty_lists.lists.selectors import items_for_email


def explain(*, list, email):
    """One list's explanation, its rows loaded as the shopper page and the API load them."""
    evidence = Evidence(merchant_id=list.merchant_id, email=email, lists=[list])
    items = items_for_email(merchant=list.merchant_id, email=email, lists=[list]) if evidence.email else []
    return explain_rows(list=list, items=items, evidence=evidence)


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


@pytest.mark.parametrize("count", [1, 12])
def test_explaining_one_email_in_every_list_costs_the_same_few_queries_for_1_or_12_lists(
    smile, run_cycle, make_list, merchant, count
):
    gold = smile.add_tier("Gold", 500)
    smile.add("ann@example.com", tier=gold)
    audiences = [("all_members", None), ("members_and_candidates", None), ("vip_tier", gold)]
    lists = [make_list(*audiences[n % 3], name=f"L{n:02}") for n in range(count)]
    run_cycle()
    SmileCustomer.objects.filter(merchant=merchant).update(state="disabled")  # every list now disagrees
    held = SyncRun.objects.create(
        merchant=merchant, kind="delta", status="held", started_at=merchant.created_at
    )
    ListRunResult.objects.create(
        merchant=merchant, run=held, list=lists[0], outcome="held", decision="pending"
    )
    lists = list(LoyaltyList.objects.filter(pk__in=[lst.pk for lst in lists]).order_by("name"))
    with CaptureQueriesContext(connection) as ctx:
        evidence = Evidence(merchant_id=merchant.pk, email="ann@example.com", lists=lists)
        items = list(items_for_email(merchant=merchant, email="ann@example.com"))
        answers = [
            explain_rows(list=lst, items=[i for i in items if i.list_id == lst.pk], evidence=evidence)
            for lst in lists
        ]
    assert len(ctx.captured_queries) == 3  # the snapshot's customers, the items, the held runs
    assert [a.reason_code for a in answers] == ["held"] + ["pending"] * (count - 1)
    assert all(a.member for a in answers)
