"""Every error is JSON ``{"error": {"code", "message"}}`` with the right status, never HTML, never a 500."""

import logging

import pytest

from loyalty_lists.lists import explain
from loyalty_lists.lists.models import LoyaltyList

from .conftest import make_list

pytestmark = pytest.mark.django_db


def _error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_a_call_without_a_key_is_401_with_a_bearer_challenge(anonymous):
    response = anonymous.get("/api/v1/lists")
    error = _error(response, 401, "unauthorized")
    assert "Authorization: Bearer" in error["message"]
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer sll_abcdefghijkl_" + "a" * 40,
        "Bearer nonsense",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer " + "x" * 5000,
    ],
)
def test_a_bad_key_is_401_invalid_token(anonymous, header):
    response = anonymous.get("/api/v1/lists", headers={"Authorization": header})
    _error(response, 401, "unauthorized")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api/v2/lists", "/api/", "/api/v1/lists/", "/api/v1/lists/1/x"]
)
def test_unknown_paths_under_api_are_a_json_404(api, path):
    _error(api.get(path), 404, "not_found")
    _error(api.post(path, {"x": 1}), 404, "not_found")


def test_an_unknown_list_is_a_json_404(api):
    error = _error(api.get("/api/v1/lists/999999"), 404, "not_found")
    assert "999999" in error["message"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "HEAD", "OPTIONS"])
def test_an_unsupported_method_is_a_json_405_with_allow(api, method):
    response = api.generic(method, "/api/v1/lists")
    assert response.status_code == 405
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    if method != "HEAD":
        _error(response, 405, "method_not_allowed")


def test_a_body_over_the_limit_is_413_from_its_declared_length(api, settings):
    settings.API_MAX_BODY_BYTES = 100
    response = api.post("/api/v1/lookups", {"email": "a" * 200 + "@example.com"})
    _error(response, 413, "payload_too_large")


def test_a_body_over_djangos_own_limit_is_413_too(api, settings):
    settings.API_MAX_BODY_BYTES = 10_000_000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api.post("/api/v1/lookups", {"email": "a" * 200 + "@example.com"})
    _error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    "body", ["{nope", '{"email": ', "\u00ff\u00fe".encode("latin-1").decode("latin-1"), "[1,"]
)
def test_malformed_json_is_400(api, body):
    _error(api.post("/api/v1/lookups", body=body), 400, "malformed_json")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_a_body_that_is_not_sent_as_json_is_415_and_not_read(api, shop, content_type):
    make_list(shop)
    for path, body in (
        ("/api/v1/lookups", '{"email": "ann@example.com"}'),
        ("/api/v1/lists", '{"name": "x"}'),
    ):
        response = api.client.generic(
            "POST", path, body, content_type=content_type, headers=api._headers(None)
        )
        error = _error(response, 415, "unsupported_media_type")
        assert "application/json" in error["message"]
    assert [lst.name for lst in LoyaltyList.objects.all()] == ["Members"]  # nothing created


@pytest.mark.parametrize("content_type", ["text/plain", ""])
def test_no_body_and_no_json_content_type_is_415_too(api, content_type):
    response = api.client.generic(
        "POST", "/api/v1/lookups", "", content_type=content_type, headers=api._headers(None)
    )
    _error(response, 415, "unsupported_media_type")


def test_no_body_sent_as_json_is_a_422_asking_for_one(api):
    # (Django's test client leaves CONTENT_TYPE out for an empty body: set it as a real client would.)
    response = api.client.generic(
        "POST", "/api/v1/lookups", "", headers=api._headers(None), CONTENT_TYPE="application/json"
    )
    error = _error(response, 422, "validation_error")
    assert error["details"] == [
        {"field": "body", "location": "body", "message": "A JSON object is required.", "type": "missing"}
    ]


def test_json_with_a_charset_is_json(api, shop):
    make_list(shop)
    response = api.post(
        "/api/v1/lookups", {"email": "ann@example.com"}, content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 200, response.content


def test_invalid_utf8_is_400(api):
    response = api.client.post(
        "/api/v1/lookups", b"\xff\xfe{", content_type="application/json", headers=api._headers(None)
    )
    _error(response, 400, "malformed_json")


def test_a_validation_error_is_422_naming_the_field_and_why(api):
    error = _error(api.post("/api/v1/lists", {"audience": "all_members"}), 422, "validation_error")
    assert error["message"].startswith("name: ")
    assert error["details"] == [
        {"field": "name", "location": "body", "message": "Field required", "type": "missing"}
    ]


def test_a_query_parameter_error_is_422_with_its_location(api, shop):
    lst = make_list(shop)
    error = _error(api.get(f"/api/v1/lists/{lst.pk}/items", {"limit": "lots"}), 422, "validation_error")
    assert error["details"][0]["field"] == "limit"
    assert error["details"][0]["location"] == "query"


def test_a_path_parameter_error_is_422(api):
    error = _error(api.get("/api/v1/lists/abc"), 422, "validation_error")
    assert error["details"][0]["field"] == "list_id"
    assert error["details"][0]["location"] == "path"


@pytest.mark.parametrize("list_id", ["0", "-1", "9223372036854775808", "1e3"])
def test_out_of_range_ids_are_422_not_a_database_error(api, list_id):
    _error(api.get(f"/api/v1/lists/{list_id}"), 422, "validation_error")


def test_too_many_calls_are_429_with_retry_after(api, settings):
    settings.API_RATE_LIMIT = "3/m"
    for _ in range(3):
        assert api.get("/api/v1/lists").status_code == 200
    response = api.get("/api/v1/lists")
    _error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60


def test_the_rate_limit_is_per_key(api, api_b, settings):
    settings.API_RATE_LIMIT = "2/m"
    for _ in range(2):
        api.get("/api/v1/lists")
    assert api.get("/api/v1/lists").status_code == 429
    assert api_b.get("/api/v1/lists").status_code == 200


def test_too_many_query_fields_is_400(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    query = "&".join(f"f{n}=1" for n in range(10))
    _error(api.get(f"/api/v1/sync-runs?{query}"), 400, "bad_request")


def test_an_unexpected_error_is_a_json_500_and_is_logged(api, shop, monkeypatch, caplog):
    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(explain, "customers_for_email", explode)  # the list does not hold ann
    make_list(shop)
    with caplog.at_level(logging.ERROR, logger="loyalty_lists.api.errors"):
        response = api.post("/api/v1/lookups", {"email": "ann@example.com"})
    _error(response, 500, "internal_error")
    assert "boom" not in response.content.decode()
    assert "Unhandled error in the JSON API" in caplog.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/lists/1/members/", ""),
        ("GET", "/api/v1/lists/1/items?cursor=%00", ""),
        ("POST", "/api/v1/lookups", "null"),
        ("POST", "/api/v1/lookups", '"just a string"'),
        ("POST", "/api/v1/lookups", '{"email": null}'),
        ("POST", "/api/v1/lookups", '{"email": "a@b.c", "list_ids": "1"}'),
        ("POST", "/api/v1/lookups", '{"email": "a@b.c", "list_ids": [1e400]}'),
        ("POST", "/api/v1/lookups", '{"email": "\\u0000@example.com"}'),
        ("POST", "/api/v1/lookups", '{"email": "\\ud800@example.com"}'),
        ("POST", "/api/v1/lists", '{"name": "\\ud800", "audience": "all_members"}'),
        (
            "POST",
            "/api/v1/lists",
            '{"name": "x", "audience": "vip_tier", "vip_tier_id": 99999999999999999999}',
        ),
        ("DELETE", "/api/v1/lookups", ""),
        ("GET", "/api/v1/sync-runs?cursor=W10", ""),
        ("GET", "/api/v1/sync-runs?cursor=WyJ4IiwxXQ", ""),
        ("GET", "/api/v1/sync-runs?limit=100000000000000000000000", ""),
    ],
)
def test_odd_requests_never_get_a_500_or_html(api, method, path, body):
    response = api.generic(method, path, body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"].startswith("application/json")
    assert "error" in response.json()
