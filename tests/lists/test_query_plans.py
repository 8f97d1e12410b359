"""The shopper-facing reads walk an index to exactly their rows: no SCAN of the big tables, no sort of
a whole list (SQLite's EXPLAIN QUERY PLAN; SQLite has no statistics, so the plan is the worst case)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty_lists.lists.explain import Evidence, explain
from loyalty_lists.lists.selectors import customers_for_email, items_for_email, last_good_sync
from loyalty_lists.lists.sync.snapshot import index_emails
from loyalty_lists.web.selectors import list_preview, shopper_customers, shopper_history


@pytest.fixture(autouse=True)
def _sqlite_only():
    # These tests read SQLite's EXPLAIN QUERY PLAN; the default suite always runs on SQLite (the
    # PostgreSQL run selects only `prod` tests), so a different database is a mistake, not a skip.
    assert connection.vendor == "sqlite", "query-plan tests need the default SQLite settings"


BIG_TABLES = ("lists_listitem", "lists_smilecustomer", "lists_syncrun", "lists_listchange")


def plans(fn) -> list[tuple[str, str]]:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    out = []
    with connection.cursor() as cursor:
        for query in ctx.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            out.append((sql, " | ".join(row[-1] for row in cursor.fetchall())))
    return out


def assert_indexed(fn, *, expect: dict[str, str]) -> None:
    """No SCAN of a big table, and each table of ``expect`` read through that index."""
    found = plans(fn)
    assert found
    for sql, plan in found:
        for table in BIG_TABLES:
            assert f"SCAN {table}" not in plan, f"{sql}\n-> {plan}"
    joined = " || ".join(plan for _, plan in found)
    for table, index in expect.items():
        assert f"SEARCH {table} USING" in joined and index in joined, joined


@pytest.fixture
def synced(smile, run_cycle, make_list):
    gold = smile.add_tier("Gold", 500)
    smile.add_many(30, tier=gold)
    smile.add("ann@example.com")
    smile.add("ANN@example.com", state="candidate")
    lists = [make_list("all_members"), make_list("members_and_candidates"), make_list("vip_tier", gold)]
    run_cycle()
    smile.update(1, state="disabled")
    run_cycle()
    for lst in lists:
        lst.refresh_from_db()
    return lists, gold


def test_items_for_email_uses_the_list_email_customer_index_in_its_documented_order(synced, merchant):
    lists, _ = synced
    items = list(items_for_email(merchant=merchant, email="ann@example.com"))
    assert [(i.list_id, i.smile_customer_id) for i in items] == sorted(
        (i.list_id, i.smile_customer_id) for i in items
    )
    assert_indexed(
        lambda: list(items_for_email(merchant=merchant, email="ann@example.com", lists=lists)),
        expect={"lists_listitem": "item_email_customer"},
    )
    for lookup_lists in (None, lists[:1]):  # every list, or one (the explain case)
        for _, plan in plans(
            lambda ls=lookup_lists: list(
                items_for_email(merchant=merchant, email="ann@example.com", lists=ls)
            )
        ):
            assert "item_email_customer" in plan and "TEMP B-TREE" not in plan, plan


def _explain_all(merchant, lists, email="ann@example.com"):
    """What the shopper page and the API read to explain one email in every list."""
    evidence = Evidence(merchant_id=merchant.pk, email=email, lists=lists)
    items = list(items_for_email(merchant=merchant, email=email, lists=lists))
    return [
        explain(list=lst, items=[i for i in items if i.list_id == lst.pk], evidence=evidence) for lst in lists
    ]


def test_explain_reads_the_snapshot_by_email_and_smile_id(synced, merchant):
    lists, _ = synced
    assert_indexed(
        lambda: _explain_all(merchant, lists),
        expect={"lists_smilecustomer": "snapshot_email_id", "lists_listitem": "item_email_customer"},
    )
    for _, plan in plans(lambda: _explain_all(merchant, lists[:1])):
        if "lists_smilecustomer" in plan:
            assert "TEMP B-TREE" not in plan, plan


def test_last_good_sync_probes_an_index_and_ignores_webhook_runs(synced, merchant):
    run = last_good_sync(merchant=merchant)
    assert run is not None and run.kind in ("delta", "full")
    assert_indexed(lambda: last_good_sync(merchant=merchant), expect={"lists_syncrun": "syncrun_last_good"})
    for _, plan in plans(lambda: last_good_sync(merchant=merchant)):
        assert "TEMP B-TREE" not in plan, plan


def test_the_shopper_history_uses_the_merchant_email_index(synced, merchant):
    assert_indexed(
        lambda: shopper_history(merchant=merchant, email="shopper0@example.com"),
        expect={"lists_listchange": "change_email"},
    )


def test_the_list_preview_does_not_scan_the_snapshot(synced, merchant):
    _, gold = synced
    for audience, tier in (("all_members", None), ("members_and_candidates", None), ("vip_tier", gold)):
        assert_indexed(
            lambda a=audience, t=tier: list_preview(merchant=merchant, audience=a, vip_tier_id=t), expect={}
        )


def test_reads_by_email_use_the_partial_email_index(synced, merchant):
    for read in (
        lambda: shopper_customers(merchant=merchant, email="ann@example.com"),
        lambda: list(customers_for_email(merchant_id=merchant.pk, email="ann@example.com")),
    ):
        (found,) = plans(read)  # one statement
        sql, plan = found
        assert "USING INDEX snapshot_email_id (merchant_id=? AND email=?)" in plan, (sql, plan)
        assert "TEMP B-TREE" not in plan, plan


def test_bringing_the_email_index_up_to_date_reads_only_the_pending_rows(synced, merchant):
    with CaptureQueriesContext(connection) as ctx:
        index_emails(merchant.pk)
    (update,) = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE")]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {update}")
        plan = " | ".join(row[-1] for row in cursor.fetchall())
    assert "USING INDEX snapshot_email_pending" in plan, plan
