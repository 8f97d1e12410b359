from datetime import timedelta

import pytest

from .conftest import T0, make_run

pytestmark = pytest.mark.django_db


def test_runs_come_newest_first_with_their_counts_and_errors(api, shop):
    ok = make_run(shop, started_at=T0, customers_fetched=250, items_added=3, lists_published=2)
    failed = make_run(
        shop, started_at=T0 + timedelta(hours=1), status="failed", error_message="Smile answered 503."
    )
    body = api.get("/api/v1/sync-runs").json()
    assert [r["id"] for r in body["items"]] == [failed.pk, ok.pk]
    assert body["next_cursor"] is None
    assert body["items"][0]["error"] == "Smile answered 503."
    assert body["items"][1] == {
        "id": ok.pk,
        "kind": "delta",
        "status": "succeeded",
        "queued_at": None,
        "started_at": "2025-03-01T12:00:00Z",
        "finished_at": "2025-03-01T12:01:00Z",
        "customers_fetched": 250,
        "lists_published": 2,
        "items_added": 3,
        "items_removed": 0,
        "items_changed": 0,
        "customers_gone": 0,
        "error": None,
    }


def test_paging_follows_next_cursor_through_runs_with_equal_start_times(api, shop):
    runs = [make_run(shop, started_at=T0 + timedelta(minutes=n // 2), kind="webhook") for n in range(7)]
    expected = [r.pk for r in sorted(runs, key=lambda r: (r.started_at, r.pk), reverse=True)]
    seen, cursor = [], None
    while True:
        body = api.get("/api/v1/sync-runs", {"limit": 2} | ({"cursor": cursor} if cursor else {})).json()
        seen += [r["id"] for r in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == expected


def test_a_merchant_without_runs_has_an_empty_page(api):
    assert api.get("/api/v1/sync-runs").json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("limit", ["0", "501"])
def test_the_limit_is_1_to_500(api, limit):
    assert api.get("/api/v1/sync-runs", {"limit": limit}).status_code == 422


@pytest.mark.parametrize(
    "cursor", ["nope", "WzFd", "WyJub3QgYSBkYXRlIiwxXQ", "WyIyMDI1LTAzLTAxVDEyOjAwOjAwIiwxXQ"]
)
def test_a_malformed_cursor_is_400(api, cursor):
    response = api.get("/api/v1/sync-runs", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"
