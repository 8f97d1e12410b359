import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty_lists.api.lookup import explain_many, lists_with_items
from loyalty_lists.lists.explain import explain
from loyalty_lists.lists.models import ListItem, SyncRunList

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
    SyncRunList.objects.create(merchant=shop, run=run, list=lists[-1], outcome="held", decision="pending")
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


@pytest.mark.parametrize("count", [1, 20])
def test_a_lookup_costs_a_few_indexed_queries_for_1_or_20_lists(api, shop, count, settings):
    settings.API_RATE_LIMIT = "6000/m"
    lists = _workflow_lists(shop, count)
    with_all_reasons = [lists[0]] if count == 1 else lists
    queries = _lookup_queries(api, with_all_reasons)
    # key, lists with their items and the sync state, snapshot (some lists do not hold the email), held runs
    assert len(queries) <= 4, "\n".join(queries)
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
    with django_assert_max_num_queries(4):
        _lookup(api, {"email": "ann@example.com", "list_ids": [lst.pk for lst in lists]})


def test_a_lookup_where_every_list_holds_the_email_skips_the_explanations(api, shop, settings):
    settings.API_RATE_LIMIT = "6000/m"
    lists = [make_list(shop, f"L{n}") for n in range(20)]
    for lst in lists:
        make_item(lst, "ann@example.com", smile_id=1, snapshot=False)
    make_run(shop)
    assert len(_lookup_queries(api, lists)) == 2  # key; lists with their items and the sync state


# --- the batch explanation agrees with the lists domain's explain --------------------------------------


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
def test_explanations_match_explain_for_every_non_member_list(shop, customers):
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
    SyncRunList.objects.create(merchant=shop, run=held, list=lists[1], outcome="held", decision="pending")
    found, _ = lists_with_items(merchant_id=shop.pk, email="ann@example.com")  # as the endpoints load them
    loaded = [m.list for m in found.values()]  # only the columns they use
    ours = explain_many(merchant_id=shop.pk, lists=loaded, email="ann@example.com")
    for lst in lists:
        theirs = explain(list=lst, email="ann@example.com")
        assert not theirs.member
        assert ours[lst.pk] == (theirs.reason_code, theirs.reason), lst.name


def test_the_lookup_answer_renders_exactly_as_its_schema_would(shop, rf):
    """The endpoint renders its answer without re-validating it against ``LookupOut`` (the hot path):
    the bytes must be those the validated schema would give."""
    from datetime import timedelta

    from loyalty_lists.api.api import api as ninja_api
    from loyalty_lists.api.endpoints.lookups import lookup_answer
    from loyalty_lists.api.schemas import LookupIn, LookupOut

    make_tier(shop, 12, "Gold")
    members = make_list(shop, "Members")
    gold = make_list(shop, "Gold", "vip_tier", tier=12)
    make_list(shop, "Frozen", "vip_tier", tier=99, stale_since=T0, stale_reason="Tier gone.")
    expires = T0 + timedelta(days=40, microseconds=123456)
    make_item(
        members,
        "ann@example.com",
        smile_id=5,
        points=40,
        tier=12,
        tier_name="Gold",
        vip_tier_expires_at=expires,
    )
    make_item(members, "ann@example.com", smile_id=3, points=0)
    make_item(gold, "ann@example.com", smile_id=5, points=40, tier=12, tier_name="Gold", snapshot=False)
    make_customer(shop, "bob@example.com", state="candidate")
    make_run(shop)
    request = rf.post("/api/v1/lookups")
    for email in ("ann@example.com", "bob@example.com", "nobody@example.com"):
        answer = lookup_answer(shop.pk, LookupIn(email=email))
        validated = LookupOut.model_validate(answer).model_dump()
        fast = ninja_api.renderer.render(request, answer, response_status=200)
        assert fast == ninja_api.renderer.render(request, validated, response_status=200)
    assert {r["name"]: r["member"] for r in answer["results"]} == {
        "Frozen": False,
        "Gold": False,
        "Members": False,
    }
    ann = lookup_answer(shop.pk, LookupIn(email="ann@example.com"))
    # exercised: a datetime with microseconds, as the renderer writes it (milliseconds, "Z")
    assert [i["vip_tier_expires_at"] for i in ann["results"][2]["items"]] == [
        None,
        "2025-04-10T12:00:00.123Z",
    ]
