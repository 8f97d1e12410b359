from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty_lists.lists.explain import Evidence, explain
from loyalty_lists.lists.models import ListItem, ListRunResult

from .conftest import T0, make_customer, make_item, make_list, make_run, make_tier

pytestmark = pytest.mark.django_db


def _lookup(api, payload, status=200):
    response = api.post("/api/v1/lookups", payload)
    assert response.status_code == status, response.content
    return response.json()


def test_one_call_answers_every_list_in_name_order_when_list_ids_is_omitted(api, shop):
    make_tier(shop, 12, "Gold")
    members = make_list(shop, "B members")
    gold = make_list(shop, "A gold", "vip_tier", tier=12)
    make_item(members, "ann@example.com", smile_id=5, points=40)
    make_run(shop)
    body = _lookup(api, {"email": "ann@example.com"})
    assert body["email"] == "ann@example.com"
    assert body["as_of"] == "2025-03-01T12:00:00Z"
    assert [(r["list_id"], r["name"], r["member"]) for r in body["results"]] == [
        (gold.pk, "A gold", False),
        (members.pk, "B members", True),
    ]
    gold_result, members_result = body["results"]
    assert members_result["item"]["points_balance"] == 40
    assert members_result["items"] == [members_result["item"]]
    assert (members_result["reason"], members_result["reason_code"], members_result["stale"]) == (
        None,
        None,
        None,
    )
    assert gold_result["reason_code"] == "other_tier"
    assert gold_result["items"] == [] and gold_result["item"] is None


def test_list_ids_choose_the_lists_and_their_order_once_each(api, shop):
    first, second, third = (make_list(shop, name) for name in ("One", "Two", "Three"))
    body = _lookup(api, {"email": "ann@example.com", "list_ids": [third.pk, first.pk, third.pk]})
    assert [r["list_id"] for r in body["results"]] == [third.pk, first.pk]


def test_an_empty_list_ids_answers_no_list(api, shop):
    make_list(shop)
    assert _lookup(api, {"email": "ann@example.com", "list_ids": []})["results"] == []


def test_an_unknown_list_id_is_404_naming_it(api, shop):
    lst = make_list(shop)
    body = _lookup(api, {"email": "ann@example.com", "list_ids": [lst.pk, 987654]}, status=404)
    assert body["error"]["code"] == "not_found"
    assert "987654" in body["error"]["message"]
    assert str(lst.pk) not in body["error"]["message"].replace("987654", "")


def test_customers_sharing_an_email_answer_with_every_item_in_smile_customer_id_order(api, shop):
    lst = make_list(shop)
    make_item(lst, "twin@example.com", smile_id=9)
    make_item(lst, "twin@example.com", smile_id=3)
    (result,) = _lookup(api, {"email": "twin@example.com"})["results"]
    assert [i["smile_customer_id"] for i in result["items"]] == [3, 9]
    assert result["item"]["smile_customer_id"] == 3


def test_the_email_is_normalised_as_the_sync_does(api, shop):
    lst = make_list(shop)
    make_item(lst, "ann@example.com")
    body = _lookup(api, {"email": "  ANN@Example.com\t"})
    assert body["email"] == "ann@example.com"
    assert body["results"][0]["member"] is True


def test_a_stale_list_reports_stale_in_the_lookup(api, shop):
    lst = make_list(shop, "Old", "vip_tier", tier=13, stale_since=T0, stale_reason="Tier 13 vanished.")
    (result,) = _lookup(api, {"email": "ann@example.com"})["results"]
    assert result["stale"] == {"since": "2025-03-01T12:00:00Z", "reason": "Tier 13 vanished."}
    assert result["reason_code"] == "list_stale"
    assert result["list_id"] == lst.pk


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "email"),
        ({"email": ""}, "email"),
        ({"email": "   "}, "email"),
        ({"email": 42}, "email"),
        ({"email": "a" * 300 + "@example.com"}, "email"),
        ({"email": "a@example.com", "list_ids": ["one"]}, "list_ids.0"),
        ({"email": "a@example.com", "list_ids": [0]}, "list_ids.0"),
        ({"email": "a@example.com", "list_ids": list(range(1, 502))}, "list_ids"),
    ],
)
def test_invalid_lookups_are_422_naming_the_field(api, payload, field):
    body = _lookup(api, payload, status=422)
    assert body["error"]["details"][0]["field"] == field


# --- the hot path: a constant, small number of indexed queries ---------------------------------------


def _workflow_lists(shop, count):
    """``count`` lists of every kind, with the looked-up email a member of some and not of others."""
    make_tier(shop, 11, "Silver")
    make_tier(shop, 12, "Gold")
    make_customer(shop, "ann@example.com", smile_id=1, tier=12, tier_name="Gold")
    make_customer(shop, "ann@example.com", smile_id=2, state="candidate")
    kinds = [
        ("all_members", None, True),
        ("members_and_candidates", None, True),
        ("vip_tier", 12, True),
        ("vip_tier", 11, False),
        ("all_members", None, False),  # Smile says member, the list does not yet: "pending"
    ]
    lists = []
    for n in range(count):
        audience, tier, holds = kinds[n % len(kinds)]
        lst = make_list(shop, f"List {n:02}", audience, tier=tier)
        if holds:
            make_item(lst, "ann@example.com", smile_id=1, tier=tier, snapshot=False)
        lists.append(lst)
    run = make_run(shop, status="held")
    ListRunResult.objects.create(merchant=shop, run=run, list=lists[-1], outcome="held", decision="pending")
    return lists


def _lookup_queries(api, lists):
    payload = {"email": "ann@example.com", "list_ids": [lst.pk for lst in lists]}
    _lookup(api, payload)  # warm: the key's last_used_at is written at most once a minute
    with CaptureQueriesContext(connection) as ctx:
        _lookup(api, payload)
    return [q["sql"] for q in ctx.captured_queries]


def _assert_indexed(queries):
    if connection.vendor != "sqlite":  # the plan check below reads SQLite's EXPLAIN QUERY PLAN
        return
    with connection.cursor() as cursor:
        for sql in queries:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = " | ".join(row[-1] for row in cursor.fetchall())
            assert "SCAN" not in plan, f"{sql}\n-> {plan}"
            assert "USING" in plan, f"{sql}\n-> {plan}"
            assert "TEMP B-TREE" not in plan, f"{sql}\n-> {plan}"  # lists come in name order by index


# the key (with its merchant), the lists (with the sync state's as_of), their items with the email; and only
# when some list does not hold the email, the snapshot's customers with it, then which lists are held
MEMBER_QUERIES = 3
MOST_QUERIES = MEMBER_QUERIES + 2


@pytest.mark.parametrize("count", [1, 20])
def test_a_lookup_costs_a_few_indexed_queries_for_1_or_20_lists(api, shop, count, settings):
    settings.API_RATE_LIMIT = "6000/m"
    lists = _workflow_lists(shop, max(count, 5))
    with_all_reasons = [lists[-1]] if count == 1 else lists  # the last one is held: every query runs
    queries = _lookup_queries(api, with_all_reasons)
    assert len(queries) == MOST_QUERIES, "\n".join(queries)
    _assert_indexed(queries)


def test_the_query_count_does_not_grow_with_the_number_of_lists_or_their_size(
    api, shop, settings, django_assert_max_num_queries
):
    settings.API_RATE_LIMIT = "6000/m"
    lists = _workflow_lists(shop, 20)
    twenty = len(_lookup_queries(api, lists))
    big = lists[0]
    ListItem.objects.bulk_create(
        ListItem(
            merchant=shop,
            list=big,
            smile_customer_id=10_000 + n,
            email=f"other{n}@example.com",
            state="member",
            added_at=T0,
            updated_at=T0,
        )
        for n in range(5000)
    )
    assert len(_lookup_queries(api, lists)) == twenty
    with django_assert_max_num_queries(MOST_QUERIES):
        _lookup(api, {"email": "ann@example.com", "list_ids": [lst.pk for lst in lists]})


def test_a_lookup_where_every_list_holds_the_email_skips_the_explanations(api, shop, settings):
    settings.API_RATE_LIMIT = "6000/m"
    lists = [make_list(shop, f"L{n}") for n in range(20)]
    for lst in lists:
        make_item(lst, "ann@example.com", smile_id=1, snapshot=False)
    make_run(shop)
    assert len(_lookup_queries(api, lists)) == MEMBER_QUERIES


# --- the answers are the lists domain's explain, the one the shopper page shows ----------------------


@pytest.mark.parametrize(
    "customers",
    [
        [],
        [{"state": "member", "gone_at": T0}],
        [{"state": "disabled"}],
        [{"state": "candidate"}],
        [{"state": "member", "tier": 11}],
        [{"state": "member"}],
        [{"state": "candidate", "smile_id": 50}, {"state": "disabled", "smile_id": 40}],
        [{"state": "member", "tier": 12, "smile_id": 60}, {"state": "disabled", "smile_id": 61}],
    ],
)
def test_reasons_are_explains_for_every_non_member_list(api, shop, customers):
    make_tier(shop, 11, "Silver")
    make_tier(shop, 12, "Gold")
    for fields in customers:
        make_customer(shop, "ann@example.com", **fields)
    lists = [
        make_list(shop, "members"),
        make_list(shop, "members and candidates", "members_and_candidates"),
        make_list(shop, "gold", "vip_tier", tier=12),
        make_list(shop, "silver", "vip_tier", tier=11),
        make_list(shop, "stale", "vip_tier", tier=13, stale_since=T0, stale_reason="Gone."),
    ]
    held = make_run(shop, status="held")
    ListRunResult.objects.create(merchant=shop, run=held, list=lists[1], outcome="held", decision="pending")
    answers = {r["list_id"]: r for r in _lookup(api, {"email": "ann@example.com"})["results"]}
    for lst in lists:  # each explained on its own, from its own rows
        alone = explain(
            list=lst, items=[], evidence=Evidence(merchant_id=shop.pk, email="ann@example.com", lists=[lst])
        )
        assert (answers[lst.pk]["reason_code"], answers[lst.pk]["reason"]) == (
            alone.reason_code,
            alone.reason,
        )
        assert answers[lst.pk]["member"] is False


def test_times_are_utc_iso_8601_to_the_second_with_z(api, shop):
    members = make_list(shop, "Members", stale_since=T0 + timedelta(microseconds=654321), stale_reason="x")
    expires = T0 + timedelta(days=40, microseconds=123456)
    make_item(members, "ann@example.com", smile_id=5, tier=12, tier_name="Gold", vip_tier_expires_at=expires)
    make_run(shop, started_at=T0 + timedelta(microseconds=999999))
    body = _lookup(api, {"email": "ann@example.com"})
    (result,) = body["results"]
    assert body["as_of"] == "2025-03-01T12:00:00Z"
    assert result["stale"]["since"] == "2025-03-01T12:00:00Z"
    assert result["item"]["vip_tier_expires_at"] == "2025-04-10T12:00:00Z"
    assert result["item"]["loyalty_member_since"] == "2025-01-30T12:00:00Z"
