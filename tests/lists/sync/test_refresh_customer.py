"""Single-customer refresh (what a customer/updated webhook triggers)."""

from dataclasses import replace
from datetime import timedelta

from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListChange, ListRunResult, SmileCustomer, SyncRun

from ..conftest import assert_lists_match, items_of
from ..fakes import FakeSmile


def refresh(merchant, cid, client):
    return services.customer_refresh(merchant_id=merchant.pk, smile_customer_id=cid, client=client)


def test_a_refresh_updates_the_customers_items_in_every_list(merchant, smile, run_cycle, make_list):
    bronze, gold = smile.add_tier("Bronze", 0), smile.add_tier("Gold", 500)
    cid = smile.add("r@example.com", tier=bronze)
    lists = [make_list("all_members"), make_list("vip_tier", bronze), make_list("vip_tier", gold)]
    run_cycle()
    smile.update(cid, tier=gold, points=40)

    run = refresh(merchant, cid, smile)

    assert (run.kind, run.status, run.customers_fetched) == ("webhook", "succeeded", 1)
    assert_lists_match(lists, smile)
    assert items_of(lists[0])[cid].vip_tier_name == "Gold"
    kinds = sorted(ListChange.objects.filter(run=run).values_list("list_id", "kind"))
    assert kinds == [(lists[0].pk, "tier_up"), (lists[1].pk, "left"), (lists[2].pk, "joined")]
    assert ListRunResult.objects.filter(run=run).count() == 3
    lists[2].refresh_from_db()
    assert lists[2].item_count == 1
    assert smile.get_calls == 1


def test_a_refresh_adds_a_customer_the_lists_have_not_seen(merchant, smile, run_cycle, make_list):
    members = make_list("all_members")
    run_cycle()
    cid = smile.add("brand-new@example.com")
    refresh(merchant, cid, smile)
    assert set(items_of(members)) == {cid}


def test_a_refresh_of_a_customer_smile_no_longer_has_removes_them(merchant, smile, run_cycle, make_list):
    cid = smile.add("bye@example.com")
    members = make_list("all_members")
    run_cycle()
    smile.delete(cid)

    run = refresh(merchant, cid, smile)

    assert run.status == "succeeded" and run.customers_gone == 1
    assert items_of(members) == {}
    assert SmileCustomer.objects.get(smile_id=cid).gone_at is not None


def test_duplicate_and_out_of_order_refreshes_are_harmless(merchant, smile, run_cycle, make_list):
    cid = smile.add("dup@example.com", points=1)
    members = make_list("all_members")
    run_cycle()
    old = smile.customers[cid]
    new = smile.update(cid, points=2)
    assert refresh(merchant, cid, smile).items_changed == 1
    assert refresh(merchant, cid, smile).items_changed == 1, "a duplicate changes nothing more"

    stale = FakeSmile()
    stale.customers[cid] = old  # an older version arrives late
    late = refresh(merchant, cid, stale)

    assert late.status == "succeeded" and late.items_changed == 1
    assert list(ListChange.objects.filter(list=members).values_list("kind", flat=True).order_by("pk")) == [
        "joined",  # the first fill
        "metadata_changed",  # the refresh, once
    ]
    assert items_of(members)[cid].points_balance == 2
    assert SmileCustomer.objects.get(smile_id=cid).smile_updated_at == new.updated_at


def test_an_older_page_of_a_cycle_never_overwrites_newer_webhook_data(merchant, smile, run_cycle, make_list):
    cid = smile.add("race@example.com", points=1)
    members = make_list("all_members")
    run_cycle()
    old = smile.customers[cid]
    smile.update(cid, points=2)
    refresh(merchant, cid, smile)
    lagging = FakeSmile()  # a page fetched before the webhook, stored after it
    lagging.customers[cid] = replace(old, updated_at=old.updated_at + timedelta(milliseconds=0))

    run = run_cycle("full", client=lagging)

    assert run.status == "succeeded"
    assert items_of(members)[cid].points_balance == 2


def test_a_failed_refresh_is_recorded_and_changes_nothing(merchant, smile, run_cycle, make_list):
    cid = smile.add("x@example.com")
    members = make_list("all_members")
    run_cycle()

    class Down(FakeSmile):
        def get_customer(self, customer_id):
            from integrations.smile.errors import SmileUnavailable

            raise SmileUnavailable("Smile is unavailable", status=503)

    run = refresh(merchant, cid, Down())

    assert run.status == "failed" and "unavailable" in run.error_message
    assert set(items_of(members)) == {cid}
    assert SyncRun.objects.filter(kind="webhook").count() == 1
