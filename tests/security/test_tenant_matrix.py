"""Cross-tenant route matrix: every URL pattern of the project is classified here, and each route that
takes a merchant's object id answers 404 when merchant A asks for merchant B's object.

``ROUTES`` is the table. A route added to the project without a row here fails
``test_every_route_is_classified`` — decide what it is (public, operator-only, a merchant page, a merchant
object route, an API route) and, for object routes, how to build merchant B's id.

Classes
    public        no login (login/signup pages, webhooks, API docs and schema, JSON 404)
    operator      the Django admin (``/admin/``: operators with ``is_staff``; merchant users are sent to
                  the admin login). Classified by prefix: ModelAdmin registrations add routes there.
    page          a merchant page without an object id in its path (login required; scoped by
                  ``request.merchant``)
    page_object   a merchant page with object ids in its path -> A's session + B's ids = 404
    api           an API route without an object id (API key required; scoped by the key's merchant)
    api_object    an API route with object ids in its path or body -> A's key + B's ids = 404
"""

from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from integrations.smile.models import SmileConnection
from loyalty_lists.api.keys import api_key_create
from loyalty_lists.lists.models import ListRunResult
from loyalty_lists.outbound.endpoints import endpoint_create
from loyalty_lists.outbound.models import Delivery, WebhookEndpoint
from tests.api.conftest import make_item, make_list, make_run

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Route:
    kind: str
    # page_object / api_object: (method, path template, body) per request; the template is formatted with
    # B's ids: {list}, {run}, {result}, {key} (and A's {a_list} where a route takes two ids).
    requests: tuple = field(default=())


def get(path, body=None):
    return ("get", path, body)


def post(path, body=None):
    return ("post", path, body)


def delete(path):
    return ("delete", path, None)


def patch(path, body):
    return ("patch", path, body)


PUBLIC, PAGE = Route("public"), Route("page")
API = Route("api")

ROUTES: dict[tuple[str, str], Route] = {
    # --- allauth (login, password reset, MFA pages: allauth enforces its own login requirement) -----
    ("accounts/login/", "account_login"): PUBLIC,
    ("accounts/logout/", "account_logout"): PUBLIC,
    ("accounts/inactive/", "account_inactive"): PUBLIC,
    ("accounts/signup/", "account_signup"): PUBLIC,  # closed by the adapter: no public signup
    ("accounts/reauthenticate/", "account_reauthenticate"): PUBLIC,
    ("accounts/email/", "account_email"): PUBLIC,
    ("accounts/confirm-email/", "account_email_verification_sent"): PUBLIC,
    ("accounts/password/change/", "account_change_password"): PUBLIC,
    ("accounts/password/set/", "account_set_password"): PUBLIC,
    ("accounts/password/reset/", "account_reset_password"): PUBLIC,
    ("accounts/login/code/confirm/", "account_confirm_login_code"): PUBLIC,
    ("accounts/^confirm-email/(?P<key>[-:\\w]+)/$", "account_confirm_email"): PUBLIC,
    ("accounts/password/reset/key/done/", "account_reset_password_from_key_done"): PUBLIC,
    (
        "accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$",
        "account_reset_password_from_key",
    ): PUBLIC,
    ("accounts/password/reset/done/", "account_reset_password_done"): PUBLIC,
    ("accounts/2fa/", "mfa_index"): PUBLIC,
    ("accounts/2fa/authenticate/", "mfa_authenticate"): PUBLIC,
    ("accounts/2fa/reauthenticate/", "mfa_reauthenticate"): PUBLIC,
    ("accounts/2fa/totp/activate/", "mfa_activate_totp"): PUBLIC,
    ("accounts/2fa/totp/deactivate/", "mfa_deactivate_totp"): PUBLIC,
    ("accounts/2fa/recovery-codes/", "mfa_view_recovery_codes"): PUBLIC,
    ("accounts/2fa/recovery-codes/generate/", "mfa_generate_recovery_codes"): PUBLIC,
    ("accounts/2fa/recovery-codes/download/", "mfa_download_recovery_codes"): PUBLIC,
    # --- operations: load balancers and Prometheus, no session (tests/ops/); /admin/fleet/ is the
    # operators' (prefix admin/) ---------------------------------------------------------------------
    ("healthz", "healthz"): PUBLIC,  # says only "ok"; touches no database
    ("readyz", "readyz"): PUBLIC,  # names which dependency is down, nothing of any merchant
    ("metrics", "metrics"): PUBLIC,  # METRICS_TOKEN (Bearer) or refused: tests/ops/test_metrics.py
    # --- Smile connection (the merchant comes from the session; no object id in the path) ------------
    ("integrations/smile/", "smile:connection"): PAGE,
    ("integrations/smile/connect", "smile:connect"): PAGE,
    ("integrations/smile/oauth/callback", "smile:oauth_callback"): PAGE,  # state bound to the session
    ("integrations/smile/disconnect", "smile:disconnect"): PAGE,
    ("integrations/smile/api-key", "smile:api_key"): PAGE,
    ("integrations/smile/check", "smile:check"): PAGE,
    ("integrations/smile/webhooks", "smile:webhooks"): PUBLIC,  # HMAC-signed; tested in test_webhook_security
    # --- JSON API -----------------------------------------------------------------------------------
    ("api/v1/docs/assets/<str:name>", "api-docs-asset"): PUBLIC,
    ("api/v1/openapi.json", "api-v1:openapi-json"): PUBLIC,
    ("api/v1/docs", "api-v1:openapi-view"): PUBLIC,
    ("api/v1/", "api-v1:api-root"): PUBLIC,
    ("api/^", "api-not-found"): PUBLIC,
    ("api/v1/lists", "api-v1:lists_index"): API,
    ("api/v1/lists", "api-v1:list_create"): API,
    ("api/v1/sync-runs", "api-v1:sync_runs"): API,
    ("api/v1/lists/<list_id>", "api-v1:list_detail"): Route("api_object", (get("/api/v1/lists/{list}"),)),
    ("api/v1/lists/<list_id>", "api-v1:list_delete"): Route("api_object", (delete("/api/v1/lists/{list}"),)),
    ("api/v1/lists/<list_id>/sync", "api-v1:list_sync"): Route(
        "api_object", (post("/api/v1/lists/{list}/sync"),)
    ),
    ("api/v1/lists/<list_id>/items", "api-v1:list_items"): Route(
        "api_object", (get("/api/v1/lists/{list}/items"),)
    ),
    ("api/v1/lists/<list_id>/members/<path:email>", "api-v1:list_member"): Route(
        "api_object", (get("/api/v1/lists/{list}/members/bea@example.com"),)
    ),
    ("api/v1/changes/position", "api-v1:changes_position"): API,
    ("api/v1/webhook-endpoints", "api-v1:webhook_endpoints"): API,
    ("api/v1/changes", "api-v1:changes"): Route("api_object", (get("/api/v1/changes?list_id={list}"),)),
    ("api/v1/webhook-endpoints", "api-v1:webhook_endpoint_create"): Route(
        "api_object",
        (post("/api/v1/webhook-endpoints", {"url": "https://a.example/x", "list_ids": ["{list}"]}),),
    ),
    ("api/v1/webhook-endpoints/<endpoint_id>", "api-v1:webhook_endpoint_detail"): Route(
        "api_object", (get("/api/v1/webhook-endpoints/{endpoint}"),)
    ),
    ("api/v1/webhook-endpoints/<endpoint_id>", "api-v1:webhook_endpoint_update"): Route(
        "api_object",
        (
            patch("/api/v1/webhook-endpoints/{endpoint}", {"enabled": False}),
            patch("/api/v1/webhook-endpoints/{a_endpoint}", {"list_ids": ["{list}"]}),  # A's, with B's list
        ),
    ),
    ("api/v1/webhook-endpoints/<endpoint_id>", "api-v1:webhook_endpoint_delete"): Route(
        "api_object", (delete("/api/v1/webhook-endpoints/{endpoint}"),)
    ),
    ("api/v1/webhook-endpoints/<endpoint_id>/rotate-secret", "api-v1:webhook_endpoint_rotate"): Route(
        "api_object", (post("/api/v1/webhook-endpoints/{endpoint}/rotate-secret"),)
    ),
    ("api/v1/webhook-endpoints/<endpoint_id>/deliveries", "api-v1:webhook_deliveries"): Route(
        "api_object", (get("/api/v1/webhook-endpoints/{endpoint}/deliveries"),)
    ),
    (
        "api/v1/webhook-endpoints/<endpoint_id>/deliveries/<sequence>/replay",
        "api-v1:webhook_delivery_replay",
    ): Route("api_object", (post("/api/v1/webhook-endpoints/{endpoint}/deliveries/1/replay"),)),
    ("api/v1/lookups", "api-v1:lookup"): Route(
        "api_object",
        (
            post("/api/v1/lookups", {"email": "bea@example.com", "list_ids": ["{list}"]}),
            post("/api/v1/lookups", {"email": "bea@example.com", "list_ids": ["{a_list}", "{list}"]}),
        ),
    ),
    # --- API keys pages ------------------------------------------------------------------------------
    ("api-keys/", "web:api_keys"): PAGE,
    ("api-keys/<int:pk>/revoke/", "web:api_key_revoke"): Route(
        "page_object", (get("/api-keys/{key}/revoke/"), post("/api-keys/{key}/revoke/"))
    ),
    # --- admin pages (loyalty_lists/web) -------------------------------------------------------------
    ("", "web:home"): PAGE,
    ("lists/", "web:list_index"): PAGE,
    ("lists/new/", "web:list_create"): PAGE,
    ("lists/preview/", "web:list_preview"): PAGE,
    ("runs/", "web:run_index"): PAGE,
    ("runs/progress/", "web:sync_progress"): PAGE,
    ("sync-now/", "web:sync_now"): PAGE,
    ("shoppers/", "web:shopper"): PAGE,
    ("lists/<int:pk>/", "web:list_detail"): Route("page_object", (get("/lists/{list}/"),)),
    ("lists/<int:pk>/edit/", "web:list_edit"): Route(
        "page_object",
        (
            get("/lists/{list}/edit/"),
            post("/lists/{list}/edit/", {"name": "Taken", "audience": "all_members"}),
        ),
    ),
    ("lists/<int:pk>/delete/", "web:list_delete"): Route(
        "page_object", (get("/lists/{list}/delete/"), post("/lists/{list}/delete/"))
    ),
    ("lists/<int:pk>/export.csv", "web:list_export"): Route(
        "page_object", (get("/lists/{list}/export.csv"),)
    ),
    ("lists/<int:pk>/held/<int:result_id>/approve", "web:held_approve"): Route(
        "page_object",
        (
            post("/lists/{list}/held/{result}/approve"),
            post("/lists/{a_list}/held/{result}/approve"),  # A's list, B's held run
        ),
    ),
    ("lists/<int:pk>/held/<int:result_id>/discard", "web:held_discard"): Route(
        "page_object",
        (
            post("/lists/{list}/held/{result}/discard"),
            post("/lists/{a_list}/held/{result}/discard"),
        ),
    ),
    ("runs/<int:pk>/", "web:run_detail"): Route("page_object", (get("/runs/{run}/"),)),
    # --- outbound pages (loyalty_lists/outbound) ------------------------------------------------------
    ("webhooks/", "outbound:endpoints"): PAGE,
    ("alerts/", "outbound:alerts"): PAGE,
    ("alerts/emails", "outbound:alert_emails"): PAGE,
    ("webhooks/<int:pk>/", "outbound:endpoint_detail"): Route(
        "page_object",
        (get("/webhooks/{endpoint}/"), post("/webhooks/{endpoint}/", {"url": "https://a.example/x"})),
    ),
    ("webhooks/<int:pk>/rotate", "outbound:endpoint_rotate"): Route(
        "page_object", (post("/webhooks/{endpoint}/rotate"),)
    ),
    ("webhooks/<int:pk>/enable", "outbound:endpoint_enable"): Route(
        "page_object", (post("/webhooks/{endpoint}/enable"),)
    ),
    ("webhooks/<int:pk>/disable", "outbound:endpoint_disable"): Route(
        "page_object", (post("/webhooks/{endpoint}/disable"),)
    ),
    ("webhooks/<int:pk>/delete", "outbound:endpoint_delete"): Route(
        "page_object", (get("/webhooks/{endpoint}/delete"), post("/webhooks/{endpoint}/delete"))
    ),
    ("webhooks/<int:pk>/deliveries/<int:sequence>/replay", "outbound:delivery_replay"): Route(
        "page_object",
        (
            post("/webhooks/{endpoint}/deliveries/1/replay"),
            post("/webhooks/{a_endpoint}/deliveries/{b_sequence}/replay"),
        ),
    ),
}
OPERATOR_PREFIX = "admin/"


def _walk(patterns, prefix="", namespace=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = namespace + (f"{p.namespace}:" if p.namespace else "")
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield (prefix + str(p.pattern), namespace + (p.name or ""))


def project_routes() -> set[tuple[str, str]]:
    return set(_walk(get_resolver().url_patterns))


def test_every_route_is_classified():
    routes = project_routes()
    operator = {r for r in routes if r[0].startswith(OPERATOR_PREFIX)}
    unclassified = routes - operator - set(ROUTES)
    assert not unclassified, (
        f"classify these routes in ROUTES (tests/security/test_tenant_matrix.py): {unclassified}"
    )
    gone = set(ROUTES) - routes
    assert not gone, f"ROUTES lists routes the project no longer has: {gone}"
    assert len(operator) > 50 and ("admin/", "admin:index") in operator  # the walk reached the admin


# --- data: merchant A (signed in, with a key) and merchant B (the victim) -----------------------------
@dataclass
class Tenant:
    merchant: object
    user: object
    key: str
    list: object
    run: object
    result: object
    api_key_id: int
    endpoint: object
    delivery: object


def _tenant(merchant_factory, slug: str, person: str) -> Tenant:
    merchant, user = merchant_factory(slug)
    api_key, key = api_key_create(merchant=merchant, name=f"{slug} key")
    lst = make_list(merchant, f"{slug.title()} members")
    make_item(lst, f"{person}@example.com")
    run = make_run(merchant, status="held")
    result = ListRunResult.objects.create(
        merchant=merchant,
        run=run,
        list=lst,
        outcome=ListRunResult.Outcome.HELD,
        removed=50,
        list_size=100,
        decision=ListRunResult.Decision.PENDING,
    )
    SmileConnection.objects.create(merchant=merchant, status=SmileConnection.Status.CONNECTED)
    endpoint, _secret = endpoint_create(merchant=merchant, url=f"https://{slug}.example/hooks")
    delivery = Delivery.objects.create(
        merchant=merchant,
        endpoint=endpoint,
        sequence=1 if slug == "alpha" else 7,
        message_id=f"msg_{slug}",
        first_change_id=1,
        last_change_id=1,
        event_count=1,
        body=b"{}",
        status=Delivery.Status.DELIVERED,
        created_at=run.started_at,
    )
    return Tenant(merchant, user, key, lst, run, result, api_key.pk, endpoint, delivery)


@pytest.fixture
def tenants(merchant_factory):
    return _tenant(merchant_factory, "alpha", "ann"), _tenant(merchant_factory, "bravo", "bea")


def _fill(value, a: Tenant, b: Tenant):
    ids = {
        "list": b.list.pk,
        "run": b.run.pk,
        "result": b.result.pk,
        "key": b.api_key_id,
        "a_list": a.list.pk,
        "endpoint": b.endpoint.pk,
        "a_endpoint": a.endpoint.pk,
        "b_sequence": b.delivery.sequence,
    }
    if isinstance(value, str):
        filled = value.format(**ids)
        return int(filled) if filled.isdigit() and value.startswith("{") else filled
    if isinstance(value, list):
        return [_fill(v, a, b) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, a, b) for k, v in value.items()}
    return value


def _b_is_untouched(b: Tenant):
    from loyalty_lists.api.models import ApiKey
    from loyalty_lists.lists.models import ListItem, LoyaltyList

    lst = LoyaltyList.objects.get(pk=b.list.pk)
    assert lst.name == "Bravo members"
    assert ListItem.objects.filter(list=lst).count() == 1
    result = ListRunResult.objects.get(pk=b.result.pk)
    assert result.decision == ListRunResult.Decision.PENDING
    assert ApiKey.objects.get(pk=b.api_key_id).revoked_at is None
    endpoint = WebhookEndpoint.objects.get(pk=b.endpoint.pk)
    assert (endpoint.url, endpoint.enabled, endpoint.secret_encrypted) == (
        "https://bravo.example/hooks",
        True,
        b.endpoint.secret_encrypted,
    )
    assert Delivery.objects.get(pk=b.delivery.pk).status == "delivered"
    assert WebhookEndpoint.objects.get(pk=b.endpoint.pk).list_ids == []


def _cases(kind):
    return [
        pytest.param(route, i, id=f"{route[1]}-{i}")
        for route, spec in ROUTES.items()
        if spec.kind == kind
        for i in range(len(spec.requests))
    ]


@pytest.mark.parametrize(("route", "index"), _cases("page_object"))
def test_a_merchant_page_with_another_merchants_id_is_404(client, tenants, route, index):
    a, b = tenants
    client.force_login(a.user)
    method, path, body = ROUTES[route].requests[index]
    path = _fill(path, a, b)
    response = getattr(client, method)(path, _fill(body, a, b) or {})
    assert response.status_code == 404, (path, response.status_code)
    assert b"Bravo" not in response.content and b"bea@example.com" not in response.content
    _b_is_untouched(b)


@pytest.mark.parametrize(("route", "index"), _cases("api_object"))
def test_an_api_route_with_another_merchants_id_is_404(client, tenants, route, index):
    import json

    a, b = tenants
    method, path, body = ROUTES[route].requests[index]
    path = _fill(path, a, b)
    headers = {"Authorization": f"Bearer {a.key}"}
    if body is None:
        response = getattr(client, method)(path, headers=headers)
    else:
        payload = json.dumps(_fill(body, a, b))
        response = getattr(client, method)(path, payload, content_type="application/json", headers=headers)
    assert response.status_code == 404, (path, response.status_code, response.content[:300])
    assert b"Bravo" not in response.content and b"bea@example.com" not in response.content
    _b_is_untouched(b)


def test_every_object_route_is_reachable_by_its_owner(client, tenants):
    """The matrix's 404s mean "not yours", not "broken": the owner's own ids answer (not 404)."""
    a, b = tenants
    client.force_login(b.user)
    for spec in ROUTES.values():
        if spec.kind != "page_object":
            continue
        method, path, _body = spec.requests[0]
        if method != "get":
            continue
        path = _fill(path, a, b)
        assert client.get(path).status_code == 200, path
    headers = {"Authorization": f"Bearer {b.key}"}
    for spec in ROUTES.values():
        if spec.kind == "api_object" and spec.requests[0][0] == "get":
            path = _fill(spec.requests[0][1], a, b)
            assert client.get(path, headers=headers).status_code == 200, path


PAGE_GETS = [
    "/",
    "/lists/",
    "/runs/",
    "/shoppers/?email=bea@example.com",
    "/api-keys/",
    "/integrations/smile/",
    "/webhooks/",
    "/alerts/",
]


@pytest.mark.parametrize("path", PAGE_GETS)
def test_merchant_pages_show_only_the_signed_in_merchants_data(client, tenants, path):
    a, _b = tenants
    client.force_login(a.user)
    response = client.get(path)
    assert response.status_code == 200, path
    assert b"Bravo" not in response.content, path  # B's merchant and list names (the email is echoed)


def test_page_routes_need_a_login(client, tenants):
    a, b = tenants
    for route, spec in ROUTES.items():
        if spec.kind == "page":
            path = "/" + route[0]
        elif spec.kind == "page_object":
            path = _fill(spec.requests[0][1], a, b)
        else:
            continue
        response = client.get(path)
        assert response.status_code in (302, 405), (path, response.status_code)
        if response.status_code == 302:
            assert "/accounts/login/" in response["Location"], path


def test_api_routes_need_a_key(client, tenants):
    a, b = tenants
    for route, spec in ROUTES.items():
        if spec.kind == "api":
            path = "/" + route[0]
        elif spec.kind == "api_object":
            path = _fill(spec.requests[0][1], a, b)
        else:
            continue
        response = client.get(path)
        assert response.status_code in (401, 405), (path, response.status_code)


def test_api_indexes_show_only_the_keys_merchant(client, tenants):
    a, b = tenants
    headers = {"Authorization": f"Bearer {a.key}"}
    lists = client.get("/api/v1/lists", headers=headers).json()
    assert [lst["id"] for lst in lists] == [a.list.pk]
    runs = client.get("/api/v1/sync-runs", headers=headers).json()["items"]
    assert [r["id"] for r in runs] == [a.run.pk]
    endpoints = client.get("/api/v1/webhook-endpoints", headers=headers).json()
    assert [e["id"] for e in endpoints] == [a.endpoint.pk]


def test_merchant_users_cannot_use_the_operator_admin(client, tenants):
    a, _b = tenants
    client.force_login(a.user)
    for path in [
        "/admin/",
        "/admin/fleet/",
        "/admin/lists/loyaltylist/",
        f"/admin/lists/loyaltylist/{_b.list.pk}/change/",
    ]:
        response = client.get(path)
        assert response.status_code == 302 and "login" in response["Location"], (path, response.status_code)
