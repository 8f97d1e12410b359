import pytest

from loyalty_lists.lists.models import ListRunResult

from .conftest import T0, make_customer, make_item, make_list, make_run, make_tier

pytestmark = pytest.mark.django_db


def _member(api, lst, email):
    response = api.get(f"/api/v1/lists/{lst.pk}/members/{email}")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_member_gets_member_true_with_the_item(api, shop):
    lst = make_list(shop)
    make_item(lst, "ann@example.com", smile_id=7, points=120)
    make_run(shop)
    body = _member(api, lst, "ann@example.com")
    assert body["member"] is True
    assert body["list_id"] == lst.pk
    assert body["email"] == "ann@example.com"
    assert body["item"]["smile_customer_id"] == 7 and body["item"]["points_balance"] == 120
    assert body["items"] == [body["item"]]
    assert body["as_of"] == "2025-03-01T12:00:00Z"
    assert body["stale"] is None
    assert (body["reason"], body["reason_code"]) == (None, None)


def test_the_email_is_compared_trimmed_and_case_insensitively(api, shop):
    lst = make_list(shop)
    make_item(lst, "ann@example.com")
    body = _member(api, lst, "%20Ann@EXAMPLE.com%20")
    assert body["member"] is True
    assert body["email"] == "ann@example.com"


def test_customers_sharing_an_email_all_answer_ordered_by_smile_customer_id(api, shop):
    lst = make_list(shop)
    make_item(lst, "twin@example.com", smile_id=30)
    make_item(lst, "twin@example.com", smile_id=10)
    make_item(lst, "twin@example.com", smile_id=20)
    body = _member(api, lst, "twin@example.com")
    assert [i["smile_customer_id"] for i in body["items"]] == [10, 20, 30]
    assert body["item"]["smile_customer_id"] == 10


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda shop: None, "not_in_smile"),
        (lambda shop: make_customer(shop, "ann@example.com", state="disabled"), "disabled"),
        (lambda shop: make_customer(shop, "ann@example.com", state="candidate"), "candidate"),
        (lambda shop: make_customer(shop, "ann@example.com", gone_at=T0), "gone"),
        (lambda shop: make_customer(shop, "ann@example.com"), "pending"),  # Smile says member, list not yet
    ],
)
def test_a_non_member_gets_member_false_with_a_reason_not_a_404(api, shop, setup, code):
    lst = make_list(shop)
    setup(shop)
    body = _member(api, lst, "ann@example.com")
    assert body["member"] is False
    assert body["items"] == [] and body["item"] is None
    assert body["reason_code"] == code
    assert body["reason"]


def test_a_shopper_in_another_tier_is_told_so(api, shop):
    make_tier(shop, 12, "Gold")
    lst = make_list(shop, "Gold", "vip_tier", tier=12)
    make_customer(shop, "ann@example.com", tier=11, tier_name="Silver")
    body = _member(api, lst, "ann@example.com")
    assert (body["member"], body["reason_code"]) == (False, "other_tier")


def test_a_held_run_explains_a_missing_member(api, shop):
    lst = make_list(shop)
    make_customer(shop, "ann@example.com")
    run = make_run(shop, status="held")
    ListRunResult.objects.create(
        merchant=shop, run=run, list=lst, outcome="held", decision=ListRunResult.Decision.PENDING
    )
    assert _member(api, lst, "ann@example.com")["reason_code"] == "held"


def test_a_stale_list_answers_from_its_frozen_items_and_says_it_is_stale(api, shop):
    lst = make_list(shop, "Old", "vip_tier", tier=13, stale_since=T0, stale_reason="The tier vanished.")
    make_item(lst, "in@example.com", tier=13)
    inside = _member(api, lst, "in@example.com")
    outside = _member(api, lst, "out@example.com")
    assert inside["member"] is True and inside["stale"]["reason"] == "The tier vanished."
    assert (outside["member"], outside["reason_code"]) == (False, "list_stale")
    assert outside["stale"] == inside["stale"]


def test_as_of_is_the_start_of_the_last_good_cycle_not_a_failed_one_or_a_webhook(api, shop):
    lst = make_list(shop)
    make_run(shop, started_at=T0, status="succeeded")
    make_run(shop, started_at=T0.replace(hour=13), status="failed")
    make_run(shop, started_at=T0.replace(hour=14), kind="webhook")
    make_run(shop, started_at=T0.replace(hour=15), status="running")
    assert _member(api, lst, "ann@example.com")["as_of"] == "2025-03-01T12:00:00Z"


def test_as_of_is_null_before_the_first_good_sync(api, shop):
    lst = make_list(shop)
    assert _member(api, lst, "ann@example.com")["as_of"] is None


def test_an_email_with_a_slash_is_looked_up_whole(api, shop):
    lst = make_list(shop)
    make_item(lst, "a/b@example.com")
    assert _member(api, lst, "a/b@example.com")["member"] is True


@pytest.mark.parametrize("email", ["%20%20", "x" * 250 + "@example.com", "a%00b@example.com"])
def test_an_unusable_email_is_422(api, shop, email):
    lst = make_list(shop)
    response = api.get(f"/api/v1/lists/{lst.pk}/members/{email}")
    assert response.status_code == 422
    assert response.json()["error"]["details"][0] == {
        "field": "email",
        "location": "path",
        "message": response.json()["error"]["details"][0]["message"],
        "type": "value_error",
    }


def test_an_unknown_list_is_404_even_for_a_member_lookup(api):
    assert api.get("/api/v1/lists/4242/members/ann@example.com").status_code == 404
