"""SmileClient against httpx.MockTransport: every status, retries, parsing edge cases, pagination."""

import logging
from datetime import UTC, datetime

import httpx
import pytest

from integrations.smile.errors import (
    SmileApiError,
    SmileAuthError,
    SmileBadResponse,
    SmileNotFound,
    SmileRateLimited,
    SmileScopeError,
    SmileUnavailable,
)
from integrations.smile.types import CustomerData, CustomerPage, VipTierData

from .conftest import FakeTokens, Recorder, customer_json, page_json, respond

TIERS = {
    "vip_tiers": [
        {"id": 1, "name": "Bronze", "milestone": 0, "image_url": "x"},
        {"id": 2, "name": "Gold", "milestone": 500.5, "image_url": "y"},
    ]
}


def test_it_lists_vip_tiers(make_client):
    handler = Recorder(respond(200, TIERS))
    tiers = make_client(handler).list_vip_tiers()
    assert tiers == [
        VipTierData(id=1, name="Bronze", milestone=0.0),
        VipTierData(id=2, name="Gold", milestone=500.5),
    ]
    request = handler.requests[0]
    assert request.method == "GET"
    assert request.url.path == "/v1/vip_tiers"
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert request.headers["X-Request-Id"] == "test-run"


def test_it_walks_customer_pages_one_request_per_page(make_client):
    handler = Recorder(
        respond(200, page_json([customer_json(3), customer_json(2)], next_cursor="c2", previous_cursor="")),
        respond(200, page_json([customer_json(1)], next_cursor=None, previous_cursor="c1")),
    )
    client = make_client(handler)
    pages = client.iter_customer_pages(state="member", updated_at_min=datetime(2024, 5, 1, tzinfo=UTC))
    first = next(pages)
    assert len(handler.requests) == 1  # streaming: nothing fetched ahead
    assert isinstance(first, CustomerPage)
    assert [c.id for c in first.customers] == [3, 2]
    assert first.cursor is None and first.next_cursor == "c2"
    rest = list(pages)
    assert [p.cursor for p in rest] == ["c2"]
    assert rest[0].next_cursor is None
    q1, q2 = (dict(r.url.params) for r in handler.requests)
    assert q1 == {
        "include": "vip_status",
        "limit": "250",
        "state": "member",
        "updated_at_min": "2024-05-01T00:00:00.000Z",
    }
    assert q2 == dict(q1, cursor="c2")


def test_it_starts_from_a_given_cursor_and_limit(make_client):
    handler = Recorder(respond(200, page_json([], next_cursor="")))
    pages = list(make_client(handler).iter_customer_pages(start_cursor="abc", limit=10))
    assert len(pages) == 1 and pages[0].next_cursor is None and pages[0].cursor == "abc"
    assert dict(handler.requests[0].url.params) == {"include": "vip_status", "limit": "10", "cursor": "abc"}


def test_it_rejects_a_limit_outside_smiles_range(make_client):
    with pytest.raises(ValueError):
        next(make_client(Recorder(respond(200, {}))).iter_customer_pages(limit=251))


def test_it_parses_a_customer_fully(make_client):
    handler = Recorder(respond(200, {"customer": customer_json(42)}))
    customer = make_client(handler).get_customer(42)
    assert customer == CustomerData(
        id=42,
        email="shopper42@example.com",
        state="member",
        points_balance=120,
        vip_tier_id=7,
        vip_tier_expires_at=datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        created_at=datetime(2024, 4, 4, 15, 10, 42, 30000, tzinfo=UTC),
        updated_at=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
    )
    assert handler.requests[0].url.path == "/v1/customers/42"
    assert dict(handler.requests[0].url.params) == {"include": "vip_status"}


def test_get_customer_returns_none_on_404(make_client, sleeps):
    handler = Recorder(respond(404, {"error": {"message": "Not found"}}))
    assert make_client(handler).get_customer(9) is None
    assert len(handler.requests) == 1 and sleeps == []


def test_it_falls_back_to_the_deprecated_top_level_tier(make_client):
    raw = customer_json(1, vip_tier_id=5)
    del raw["vip_status"]
    customer = make_client(Recorder(respond(200, {"customer": raw}))).get_customer(1)
    assert customer.vip_tier_id == 5 and customer.vip_tier_expires_at is None


def test_vip_status_wins_over_the_deprecated_field(make_client):
    raw = customer_json(1, vip_tier_id=5)
    raw["vip_status"]["vip_tier_id"] = None
    raw["vip_status"]["vip_tier_expires_at"] = None
    customer = make_client(Recorder(respond(200, {"customer": raw}))).get_customer(1)
    assert customer.vip_tier_id is None and customer.vip_tier_expires_at is None


@pytest.mark.parametrize("email", [None, ""])
def test_it_keeps_a_missing_email_as_smile_sent_it(make_client, email):
    customer = make_client(Recorder(respond(200, {"customer": customer_json(1, email=email)}))).get_customer(
        1
    )
    assert customer.email == email


def test_empty_and_null_cursors_both_mean_no_page(make_client):
    handler = Recorder(respond(200, page_json([customer_json(1)], next_cursor="", previous_cursor=None)))
    pages = list(make_client(handler).iter_customer_pages())
    assert len(pages) == 1 and pages[0].next_cursor is None


@pytest.mark.parametrize(
    "body",
    [
        {"customers": "nope", "metadata": {}},
        {"customers": [], "metadata": None},
        {"customers": [customer_json(1, id="1")], "metadata": {"next_cursor": None}},
        {"customers": [customer_json(1, points_balance=None)], "metadata": {"next_cursor": None}},
        {"customers": [customer_json(1, created_at="yesterday")], "metadata": {"next_cursor": None}},
        {"customers": [customer_json(1, vip_status="gold")], "metadata": {"next_cursor": None}},
        {"customers": [customer_json(1, email=5)], "metadata": {"next_cursor": None}},
        {"customers": [customer_json(1, id=True)], "metadata": {"next_cursor": None}},
        {"customers": [], "metadata": {"next_cursor": 7}},
        ["not", "an", "object"],
    ],
)
def test_a_wrong_shape_is_a_bad_response_after_retries(make_client, sleeps, body):
    handler = Recorder(respond(200, body))
    with pytest.raises(SmileBadResponse):
        next(make_client(handler, max_attempts=2).iter_customer_pages())
    assert len(handler.requests) == 2 and len(sleeps) == 1


def test_garbage_json_is_retried_then_succeeds(make_client, sleeps):
    handler = Recorder(respond(200, text='{"vip_tiers": [tru'), respond(200, TIERS))
    assert len(make_client(handler).list_vip_tiers()) == 2
    assert len(handler.requests) == 2 and len(sleeps) == 1


def test_garbage_json_every_time_is_a_bad_response(make_client, sleeps):
    handler = Recorder(respond(200, text="<html>oops</html>"))
    with pytest.raises(SmileBadResponse) as excinfo:
        make_client(handler, max_attempts=3).list_vip_tiers()
    assert excinfo.value.status == 200
    assert len(handler.requests) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_back_off_and_recover(make_client, sleeps, status):
    handler = Recorder(
        respond(status, {"error": {"message": "down"}}), respond(status, {}), respond(200, TIERS)
    )
    assert len(make_client(handler).list_vip_tiers()) == 2
    assert len(handler.requests) == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0  # full jitter, exponential cap


def test_persistent_server_errors_end_in_unavailable(make_client, sleeps):
    handler = Recorder(respond(503, {"error": {"message": "Maintenance", "request_id": "req-9"}}))
    with pytest.raises(SmileUnavailable) as excinfo:
        make_client(handler, max_attempts=4).list_vip_tiers()
    assert excinfo.value.status == 503 and excinfo.value.request_id == "req-9"
    assert "Maintenance" in str(excinfo.value)
    assert len(handler.requests) == 4 and len(sleeps) == 3


def test_timeouts_are_retried_then_unavailable(make_client, sleeps):
    handler = Recorder(httpx.ReadTimeout("slow"))
    with pytest.raises(SmileUnavailable, match="did not answer"):
        make_client(handler, max_attempts=3).list_vip_tiers()
    assert len(handler.requests) == 3


def test_connection_errors_are_retried_then_recover(make_client, sleeps):
    handler = Recorder(httpx.ConnectError("refused"), respond(200, TIERS))
    assert len(make_client(handler).list_vip_tiers()) == 2
    assert len(sleeps) == 1


def test_a_429_without_retry_after_waits_for_the_one_second_reset(make_client, sleeps):
    handler = Recorder(respond(429, {"error": {"message": "Too many"}}), respond(200, TIERS))
    make_client(handler).list_vip_tiers()
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 1.25


def test_a_429_honours_retry_after(make_client, sleeps):
    handler = Recorder(respond(429, {}, headers={"Retry-After": "3"}), respond(200, TIERS))
    make_client(handler).list_vip_tiers()
    assert 3.0 <= sleeps[0] <= 3.25


def test_persistent_429_ends_in_rate_limited(make_client, sleeps):
    handler = Recorder(respond(429, {"error": {"message": "Too many"}}))
    with pytest.raises(SmileRateLimited) as excinfo:
        make_client(handler, max_attempts=3).list_vip_tiers()
    assert excinfo.value.status == 429 and len(handler.requests) == 3


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, SmileApiError), (422, SmileApiError), (403, SmileScopeError), (404, SmileNotFound)],
)
def test_client_errors_are_never_retried(make_client, sleeps, status, error):
    handler = Recorder(respond(status, {"error": {"message": "nope", "request_id": "r-1"}}))
    with pytest.raises(error) as excinfo:
        make_client(handler).list_vip_tiers()
    assert excinfo.value.status == status and excinfo.value.request_id == "r-1"
    assert len(handler.requests) == 1 and sleeps == []


def test_a_401_refreshes_once_and_succeeds(make_client):
    tokens = FakeTokens()
    handler = Recorder(respond(401, {"error": {"message": "expired"}}), respond(200, TIERS))
    assert len(make_client(handler, tokens=tokens).list_vip_tiers()) == 2
    assert tokens.refreshes == 1
    assert [r.headers["Authorization"] for r in handler.requests] == ["Bearer tok-1", "Bearer tok-2"]


def test_a_401_after_refresh_is_an_auth_error(make_client):
    tokens = FakeTokens(refreshed=("tok-2", "tok-3"))
    handler = Recorder(respond(401, {"error": {"message": "revoked"}}))
    with pytest.raises(SmileAuthError):
        make_client(handler, tokens=tokens).list_vip_tiers()
    assert tokens.refreshes == 1 and len(handler.requests) == 2
    assert len(tokens.auth_failures) == 1


def test_a_401_when_refresh_is_impossible_is_an_auth_error(make_client):
    tokens = FakeTokens(refresh_fails=True)
    handler = Recorder(respond(401, {}))
    with pytest.raises(SmileAuthError):
        make_client(handler, tokens=tokens).list_vip_tiers()
    assert len(handler.requests) == 1


def test_health_check_returns_nothing_and_raises_typed_errors(make_client):
    page = {"customers": [], "metadata": {"next_cursor": None, "previous_cursor": ""}}
    assert make_client(Recorder(respond(200, page))).health_check() is None
    with pytest.raises(SmileScopeError):
        make_client(Recorder(respond(403, {}))).health_check()


def test_it_never_logs_the_token_but_logs_the_correlation_id(make_client, caplog):
    caplog.set_level(logging.DEBUG)
    tokens = FakeTokens(token="secret-token-abc", refreshed=("secret-token-def",))
    handler = Recorder(respond(401, {}), respond(503, {}), respond(200, TIERS))
    make_client(handler, tokens=tokens, correlation_id="run-42").list_vip_tiers()
    assert "secret-token" not in caplog.text
    records = [r for r in caplog.records if r.name == "integrations.smile.client"]
    assert records and all(r.correlation_id == "run-42" for r in records)


def test_the_correlation_id_defaults_to_the_current_one(make_client):
    from loyalty_lists.logging import correlation_id

    handler = Recorder(respond(200, TIERS))
    with correlation_id("sync-7"):
        client = make_client(handler, correlation_id=None)
    client.list_vip_tiers()
    assert handler.requests[0].headers["X-Request-Id"] == "sync-7"


def test_every_call_has_connect_and_read_timeouts(make_client):
    handler = Recorder(respond(200, TIERS))
    make_client(handler, timeout=2.5).list_vip_tiers()
    timeouts = handler.requests[0].extensions["timeout"]
    assert timeouts["connect"] == 2.5 and timeouts["read"] == 2.5


def test_threads_can_share_one_client(make_client):
    from concurrent.futures import ThreadPoolExecutor

    handler = Recorder(lambda request: respond(200, TIERS))
    client = make_client(handler)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: client.list_vip_tiers(), range(30)))
    assert all(len(r) == 2 for r in results) and len(handler.requests) == 30


def test_repr_shows_no_token(make_client):
    client = make_client(Recorder(respond(200, TIERS)), tokens=FakeTokens(token="secret-xyz"))
    assert "secret-xyz" not in repr(client)
