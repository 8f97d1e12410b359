from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from loyalty_lists.lists import services
from loyalty_lists.lists.models import LoyaltyList

from .conftest import T0, make_item, make_list, make_tier

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(
        services, "sync_enqueue", lambda **kw: calls.append(kw) or (SimpleNamespace(pk=7), True)
    )
    return calls


def test_the_index_lists_every_list_of_the_merchant_by_name(api, shop):
    make_tier(shop, 12, "Gold")
    gold = make_list(shop, "Gold shoppers", "vip_tier", tier=12)
    members = make_list(shop, "All members")
    make_item(members, "ann@example.com")
    make_item(members, "bob@example.com")
    response = api.get("/api/v1/lists")
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": members.pk,
            "name": "All members",
            "audience": "all_members",
            "vip_tier": None,
            "member_count": 2,
            "stale": None,
            "last_synced_at": "2025-03-01T12:00:00Z",
        },
        {
            "id": gold.pk,
            "name": "Gold shoppers",
            "audience": "vip_tier",
            "vip_tier": {"id": 12, "name": "Gold"},
            "member_count": 0,
            "stale": None,
            "last_synced_at": "2025-03-01T12:00:00Z",
        },
    ]


def test_the_index_of_a_merchant_without_lists_is_empty(api):
    assert api.get("/api/v1/lists").json() == []


def test_a_stale_list_says_since_when_and_why(api, shop):
    make_tier(shop, 13, "Platinum", exists=False)
    since = datetime(2025, 2, 1, tzinfo=UTC)
    lst = make_list(
        shop,
        "Platinum",
        "vip_tier",
        tier=13,
        stale_since=since,
        stale_reason="The VIP tier Platinum vanished.",
    )
    body = api.get(f"/api/v1/lists/{lst.pk}").json()
    assert body["stale"] == {"since": "2025-02-01T00:00:00Z", "reason": "The VIP tier Platinum vanished."}
    assert body["vip_tier"] == {"id": 13, "name": "Platinum"}


def test_a_never_synced_list_has_no_last_synced_at(api, shop):
    lst = make_list(shop, last_published_at=None)
    assert api.get(f"/api/v1/lists/{lst.pk}").json()["last_synced_at"] is None


def test_one_list_has_the_index_shape(api, shop):
    lst = make_list(shop, "Everyone", "members_and_candidates")
    body = api.get(f"/api/v1/lists/{lst.pk}").json()
    assert body == {
        "id": lst.pk,
        "name": "Everyone",
        "audience": "members_and_candidates",
        "vip_tier": None,
        "member_count": 0,
        "stale": None,
        "last_synced_at": T0.isoformat().replace("+00:00", "Z"),
    }


@pytest.mark.parametrize("audience", ["all_members", "members_and_candidates"])
def test_creating_a_list_is_201_and_queues_a_sync(
    api, shop, audience, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/lists", {"name": "  Loyal shoppers ", "audience": audience})
    assert response.status_code == 201
    body = response.json()
    lst = LoyaltyList.objects.get(pk=body["id"])
    assert (lst.merchant, lst.name, lst.audience) == (shop, "Loyal shoppers", audience)
    assert body["member_count"] == 0 and body["last_synced_at"] is None
    assert enqueued == [{"merchant": shop}]


def test_creating_a_tier_list_needs_one_of_the_merchants_live_tiers(api, shop):
    make_tier(shop, 12, "Gold")
    response = api.post("/api/v1/lists", {"name": "Gold", "audience": "vip_tier", "vip_tier_id": 12})
    assert response.status_code == 201
    assert response.json()["vip_tier"] == {"id": 12, "name": "Gold"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"audience": "all_members"}, "name"),
        ({"name": "", "audience": "all_members"}, "name"),
        ({"name": "   ", "audience": "all_members"}, "name"),
        ({"name": "x" * 201, "audience": "all_members"}, "name"),
        ({"name": "x"}, "audience"),
        ({"name": "x", "audience": "big_spenders"}, "audience"),
        ({"name": "x", "audience": "vip_tier"}, "vip_tier_id"),
        ({"name": "x\u0000", "audience": "all_members"}, "name"),
        ({"name": "x", "audience": "all_members", "vip_tier_id": True}, "vip_tier_id"),
        ({"name": "x", "audience": "vip_tier", "vip_tier_id": "12"}, "vip_tier_id"),
        ({"name": "x", "audience": "all_members", "vip_tier_id": 12}, "vip_tier_id"),
        ({"name": "x", "audience": "vip_tier", "vip_tier_id": "gold"}, "vip_tier_id"),
    ],
)
def test_invalid_lists_are_422_naming_the_field(api, shop, other_shop, payload, field):
    make_tier(shop, 12, "Gold")
    make_tier(shop, 13, "Platinum", exists=False)
    make_tier(other_shop, 77, "Theirs")
    response = api.post("/api/v1/lists", payload)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == field
    assert error["message"].startswith(f"{field}: ")
    assert not LoyaltyList.objects.exists()


@pytest.mark.parametrize(
    "tier",
    [404, 13, 77],  # no such tier, a tier that vanished from Smile, another merchant's tier
)
def test_a_tier_list_naming_no_live_tier_of_the_merchant_is_404_naming_it(api, shop, other_shop, tier):
    """A well-formed body naming a tier the merchant does not have, as a lookup naming an unknown list:
    a 404 (the schema cannot know the merchant's tiers; a generated client's valid request is never
    a 422)."""
    make_tier(shop, 12, "Gold")
    make_tier(shop, 13, "Platinum", exists=False)
    make_tier(other_shop, 77, "Theirs")
    response = api.post("/api/v1/lists", {"name": "x", "audience": "vip_tier", "vip_tier_id": tier})
    assert response.status_code == 404, response.content
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["message"].startswith(f"vip_tier_id: no live VIP tier {tier}.")
    assert "Theirs" not in response.content.decode()
    assert not LoyaltyList.objects.exists()


def test_deleting_a_list_is_204_and_then_it_is_gone(api, shop):
    lst = make_list(shop)
    make_item(lst, "ann@example.com")
    response = api.delete(f"/api/v1/lists/{lst.pk}")
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(f"/api/v1/lists/{lst.pk}").status_code == 404
    assert api.delete(f"/api/v1/lists/{lst.pk}").status_code == 404


def test_sync_now_is_202_and_queues_one_cycle_for_the_merchant(api, shop, enqueued):
    lst = make_list(shop)
    response = api.post(f"/api/v1/lists/{lst.pk}/sync")
    assert response.status_code == 202
    assert response.json()["queued"] is True
    assert enqueued == [{"merchant": shop}]


def test_repeated_sync_calls_queue_one_cycle_and_answer_with_it(
    api, shop, django_capture_on_commit_callbacks
):
    from django_q.models import OrmQ

    from loyalty_lists.lists.models import SyncRun

    lst = make_list(shop)
    with django_capture_on_commit_callbacks(execute=True):
        answers = [api.post(f"/api/v1/lists/{lst.pk}/sync") for _ in range(300)]
    assert {a.status_code for a in answers} == {202}
    [run] = SyncRun.objects.filter(merchant=shop, status="queued")
    assert {a.json()["run_id"] for a in answers} == {run.pk}
    assert [a.json()["already_queued"] for a in answers] == [False] + [True] * 299
    assert OrmQ.objects.count() == 1, "one task for 300 calls"
    listed = api.get("/api/v1/sync-runs").json()["items"]
    assert (listed[0]["id"], listed[0]["status"]) == (run.pk, "queued")


def test_a_tier_that_exists_in_smile_now_is_accepted_before_any_sync(api, shop, monkeypatch):
    from integrations.smile import services as client_module
    from tests.lists.fakes import FakeSmile

    smile = FakeSmile()
    platinum = smile.add_tier("Platinum", 2500)
    monkeypatch.setattr(client_module, "client_for_merchant", lambda merchant, **kw: smile)

    response = api.post("/api/v1/lists", {"name": "Top", "audience": "vip_tier", "vip_tier_id": platinum})

    assert response.status_code == 201, response.content
    assert response.json()["vip_tier"] == {"id": platinum, "name": "Platinum"}
    missing = api.post("/api/v1/lists", {"name": "No", "audience": "vip_tier", "vip_tier_id": platinum + 1})
    assert missing.status_code == 404  # (an unknown tier id, like an unknown list id)


def test_sync_now_for_an_unknown_list_queues_nothing(api, enqueued):
    assert api.post("/api/v1/lists/12345/sync").status_code == 404
    assert enqueued == []
