"""A key sees only its merchant: another merchant's ids are 404 on every route, and nothing leaks."""

import pytest

from loyalty_lists.lists.models import LoyaltyList

from .conftest import make_item, make_list, make_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def a_list(shop):
    lst = make_list(shop, "Alpha members")
    make_item(lst, "ann@example.com")
    return lst


def _routes(list_id):
    return [
        ("get", f"/api/v1/lists/{list_id}", None),
        ("delete", f"/api/v1/lists/{list_id}", None),
        ("post", f"/api/v1/lists/{list_id}/sync", None),
        ("get", f"/api/v1/lists/{list_id}/items", None),
        ("get", f"/api/v1/lists/{list_id}/members/ann@example.com", None),
        ("post", "/api/v1/lookups", {"email": "ann@example.com", "list_ids": [list_id]}),
    ]


@pytest.mark.parametrize("route", range(6))
def test_another_merchants_list_is_404_on_every_route(api, api_b, a_list, route):
    method, path, payload = _routes(a_list.pk)[route]
    response = getattr(api_b, method)(path, payload) if payload else getattr(api_b, method)(path)
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "not_found"
    assert "Alpha" not in response.content.decode()
    # …and the owner still sees it, untouched.
    assert LoyaltyList.objects.filter(pk=a_list.pk).exists()
    assert api.get(f"/api/v1/lists/{a_list.pk}").status_code == 200


def test_the_index_and_lookups_show_only_the_keys_merchant(api, api_b, a_list, other_shop):
    theirs = make_list(other_shop, "Bravo members")
    make_item(theirs, "ann@example.com")
    assert [lst["id"] for lst in api.get("/api/v1/lists").json()] == [a_list.pk]
    assert [lst["id"] for lst in api_b.get("/api/v1/lists").json()] == [theirs.pk]
    results = api_b.post("/api/v1/lookups", {"email": "ann@example.com"}).json()["results"]
    assert [r["list_id"] for r in results] == [theirs.pk]


def test_sync_runs_and_as_of_are_per_merchant(api, api_b, shop, other_shop, a_list):
    run = make_run(shop)
    assert [r["id"] for r in api.get("/api/v1/sync-runs").json()["items"]] == [run.pk]
    assert api_b.get("/api/v1/sync-runs").json()["items"] == []
    make_list(other_shop)
    assert api_b.post("/api/v1/lookups", {"email": "ann@example.com"}).json()["as_of"] is None


def test_a_list_created_with_a_key_belongs_to_the_keys_merchant(api_b, other_shop):
    response = api_b.post("/api/v1/lists", {"name": "Mine", "audience": "all_members"})
    assert LoyaltyList.objects.get(pk=response.json()["id"]).merchant == other_shop


def test_a_cursor_from_one_merchant_reveals_nothing_to_another(api, api_b, shop, other_shop):
    lst = make_list(shop)
    for n in range(3):
        make_item(lst, f"s{n}@example.com")
    theirs = make_list(other_shop)
    cursor = api.get(f"/api/v1/lists/{lst.pk}/items", {"limit": 1}).json()["next_cursor"]
    page = api_b.get(f"/api/v1/lists/{theirs.pk}/items", {"cursor": cursor}).json()
    assert page == {"items": [], "next_cursor": None}
