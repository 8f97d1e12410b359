"""/metrics: Prometheus text with every series the operators need, only for callers with METRICS_TOKEN
(production settings refuse everyone else). (Several processes summed: tests/prod/test_run_prod.py.)"""

import json
import re
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from integrations.smile.client import SmileClient
from integrations.smile.models import SmileConnection
from integrations.smile.webhooks import sign
from loyalty_lists.api.keys import api_key_create
from loyalty_lists.lists import services, tasks
from loyalty_lists.lists.models import SyncState

pytestmark = pytest.mark.django_db
TOKEN = "metrics-test-token-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN


def samples(text: str, name: str) -> dict[str, float]:
    """{labels: value} of one series in Prometheus text format."""
    found = {}
    for line in text.splitlines():
        match = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


def test_production_settings_refuse_metrics_without_a_token(client, settings):
    settings.DEBUG, settings.METRICS_TOKEN = False, ""
    response = client.get("/metrics")
    assert response.status_code == 403
    assert "METRICS_TOKEN" in response.json()["error"]


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_a_caller_without_the_token_is_refused(client, token, header):
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"loyalty_lists_" not in response.content


def grown(before: str, after: str, name: str) -> dict[str, float]:
    """What a counter's series gained between two scrapes (counters live in the process: earlier tests
    in it counted too)."""
    old = samples(before, name)
    return {
        labels: value - old.get(labels, 0)
        for labels, value in samples(after, name).items()
        if value != old.get(labels, 0)
    }


def test_metrics_expose_every_series_the_operators_need(client, token, merchant_factory, settings):
    before = client.get("/metrics", headers=AUTH).content.decode()
    merchant, _user = merchant_factory("shop")
    SmileConnection.objects.create(merchant=merchant, status="connected", account_id="77")
    SyncState.objects.create(merchant=merchant, watermark=timezone.now() - timedelta(minutes=5))
    other, _ = merchant_factory("other")
    SmileConnection.objects.create(merchant=other, status="connected")
    SyncState.objects.create(merchant=other, watermark=timezone.now() - timedelta(minutes=90))
    # a sync task (it fails: the connection has no credentials), a Smile call answered 429 then 200,
    # a webhook, a lookup
    services.sync_enqueue(merchant=merchant)
    tasks.sync_cycle_task(merchant.pk)
    answers = iter([httpx.Response(429), httpx.Response(200, json={"vip_tiers": []})])
    smile = SmileClient(
        base_url="https://smile.test/v1",
        token_provider=type("T", (), {"get_token": lambda s: "t", "refresh_after_401": lambda s: "t"})(),
        rate_limiter=None,
        transport=httpx.MockTransport(lambda request: next(answers)),
        sleep=lambda seconds: None,
    )
    assert smile.list_vip_tiers() == []
    body = json.dumps({"account_id": 77, "topic": "customer/updated", "data": {"customer": {"id": 5}}})
    headers = {settings.SMILE_WEBHOOK_SIGNATURE_HEADER: sign(body.encode())}
    assert client.post("/integrations/smile/webhooks", body, content_type="application/json", headers=headers)
    _, key = api_key_create(merchant=merchant, name="k")
    lookup = client.post(
        "/api/v1/lookups",
        {"email": "ann@example.com"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert lookup.status_code == 200

    response = client.get("/metrics", headers=AUTH)

    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    lag = samples(text, "loyalty_lists_sync_freshness_lag_seconds_bucket")
    assert (lag['{le="600.0"}'], lag['{le="3600.0"}'], lag['{le="7200.0"}'], lag['{le="+Inf"}']) == (
        1,
        1,
        2,
        2,
    )
    assert samples(text, "loyalty_lists_sync_freshness_lag_seconds_count") == {"": 2}
    assert samples(text, "loyalty_lists_merchants")['{state="connected"}'] == 2
    assert grown(before, text, "loyalty_lists_sync_cycles_total") == {'{kind="delta",status="failed"}': 1}
    assert grown(before, text, "loyalty_lists_sync_cycle_duration_seconds_count") == {'{kind="delta"}': 1}
    assert grown(before, text, "loyalty_lists_sync_cycle_cpu_seconds_count") == {'{kind="delta"}': 1}
    smile_requests = samples(text, "loyalty_lists_smile_requests_total")
    assert smile_requests['{outcome="rate_limited"}'] >= 1 and smile_requests['{outcome="ok"}'] >= 1
    assert samples(text, "loyalty_lists_smile_webhooks_total")['{outcome="accepted"}'] >= 1
    assert samples(text, "loyalty_lists_refresh_requests_waiting") == {"": 1}  # the webhook's request
    assert samples(text, "loyalty_lists_task_queue_depth") == {
        '{queue="loyalty_lists"}': 1
    }  # its refresh task
    assert samples(text, "loyalty_lists_held_results") == {"": 0}
    assert samples(text, "loyalty_lists_request_duration_seconds_count")['{route="api-v1:lookup"}'] >= 1
