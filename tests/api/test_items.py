import pytest

from .conftest import make_item, make_list

pytestmark = pytest.mark.django_db


@pytest.fixture
def members(shop):
    lst = make_list(shop)
    for n in range(5):
        make_item(lst, f"shopper{n}@example.com", smile_id=100 + n, points=n)
    return lst


def _page(api, lst, **params):
    response = api.get(f"/api/v1/lists/{lst.pk}/items", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_page_has_the_item_fields(api, shop):
    lst = make_list(shop, "Gold", "vip_tier", tier=12)
    make_item(lst, "ann@example.com", smile_id=7, points=250, tier=12, tier_name="Gold")
    assert _page(api, lst) == {
        "items": [
            {
                "smile_customer_id": 7,
                "email": "ann@example.com",
                "points_balance": 250,
                "vip_tier_id": 12,
                "vip_tier_name": "Gold",
                "vip_tier_expires_at": None,
                "state": "member",
                "loyalty_member_since": "2025-01-30T12:00:00Z",
            }
        ],
        "next_cursor": None,
    }


def test_following_next_cursor_visits_every_item_once(api, members):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = _page(api, members, **params)
        seen += [item["smile_customer_id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [100, 101, 102, 103, 104]
    assert pages == 3


def test_a_page_that_ends_exactly_at_the_last_item_has_no_next_cursor(api, members):
    assert _page(api, members, limit=5)["next_cursor"] is None
    assert _page(api, members, limit=4)["next_cursor"] is not None


def test_the_default_page_is_100_items(api, shop):
    lst = make_list(shop)
    for n in range(101):
        make_item(lst, f"s{n}@example.com", snapshot=False)
    page = _page(api, lst)
    assert len(page["items"]) == 100
    assert len(_page(api, lst, cursor=page["next_cursor"])["items"]) == 1


def test_an_empty_list_has_an_empty_page(api, shop):
    assert _page(api, make_list(shop)) == {"items": [], "next_cursor": None}


def test_the_email_filter_uses_the_sync_normalisation(api, members):
    page = _page(api, members, email="  SHOPPER3@Example.COM ")
    assert [i["smile_customer_id"] for i in page["items"]] == [103]


def test_the_state_and_tier_filters_narrow_the_page(api, shop):
    lst = make_list(shop, "Everyone", "members_and_candidates")
    make_item(lst, "a@example.com", smile_id=1, state="member", tier=12, tier_name="Gold")
    make_item(lst, "b@example.com", smile_id=2, state="candidate")
    make_item(lst, "c@example.com", smile_id=3, state="member", tier=13, tier_name="Silver")
    assert [i["smile_customer_id"] for i in _page(api, lst, state="candidate")["items"]] == [2]
    assert [i["smile_customer_id"] for i in _page(api, lst, vip_tier_id=13)["items"]] == [3]
    assert [i["smile_customer_id"] for i in _page(api, lst, state="member", vip_tier_id=12)["items"]] == [1]
    assert _page(api, lst, state="disabled")["items"] == []


@pytest.mark.parametrize("limit", ["0", "501", "-3", "ten"])
def test_limits_outside_1_to_500_are_422(api, members, limit):
    response = api.get(f"/api/v1/lists/{members.pk}/items", {"limit": limit})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "limit"


def test_an_unknown_state_is_422(api, members):
    response = api.get(f"/api/v1/lists/{members.pk}/items", {"state": "vip"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "state"


def test_a_blank_email_filter_is_422(api, members):
    response = api.get(f"/api/v1/lists/{members.pk}/items", {"email": "  "})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "email"


@pytest.mark.parametrize(
    "cursor", ["garbage!", "W10", "WyJ4Il0", "WzEsMl0", "eyJ4IjoxfQ", "W3RydWVd", "x" * 300]
)
def test_a_malformed_cursor_is_400(api, members, cursor):
    response = api.get(f"/api/v1/lists/{members.pk}/items", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"
