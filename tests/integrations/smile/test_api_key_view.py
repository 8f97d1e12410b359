"""POST /integrations/smile/api-key: a private API key, validated live before it is saved."""

import logging

import httpx
import pytest
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from integrations.smile.models import SmileConnection

pytestmark = pytest.mark.django_db

KEY = "api_SECRET_0123456789"


def post_key(client, key=KEY):
    return client.post("/integrations/smile/api-key", {"api_key": key})


def test_a_working_key_is_validated_then_saved(
    staff_client, smile_api, merchant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_key(staff_client)
    assert response.status_code == 302
    connection = SmileConnection.objects.get(merchant=merchant_a[0])
    assert connection.auth_kind == "api_key" and connection.status == "connected"
    assert connection.access_token() == KEY and connection.refresh_token() == ""
    assert connection.last_health_check_ok is True
    assert smile_api["tiers"].calls.last.request.headers["Authorization"] == f"Bearer {KEY}"
    customers = smile_api["customers"].calls.last.request
    assert customers.url.params["limit"] == "1"
    [task] = [SignedPackage.loads(q.payload) for q in OrmQ.objects.all()]  # the first sync
    assert task["func"] == "loyalty_lists.lists.tasks.sync_cycle_task"
    assert task["args"] == (merchant_a[0].pk,)


def test_a_rejected_key_is_not_saved_and_not_echoed(
    staff_client, smile_api, django_capture_on_commit_callbacks
):
    smile_api["tiers"].respond(401, json={"error": {"message": "Invalid credentials."}})
    with django_capture_on_commit_callbacks(execute=True):
        response = post_key(staff_client)
    assert response.status_code == 400
    body = response.content.decode()
    assert "Smile rejected this key" in body
    assert KEY not in body
    assert not SmileConnection.objects.exists()
    assert OrmQ.objects.count() == 0, "no sync queued"


def test_a_key_without_customer_access_is_refused(staff_client, smile_api):
    smile_api["customers"].respond(403, json={"error": {"message": "missing customer:read"}})
    response = post_key(staff_client)
    assert response.status_code == 400
    assert "may not read customers and VIP tiers" in response.content.decode()
    assert not SmileConnection.objects.exists()


def test_an_unreachable_smile_is_reported_inline(staff_client, smile_api):
    smile_api["tiers"].side_effect = httpx.ConnectError("refused")
    response = post_key(staff_client)
    assert response.status_code == 400
    assert "Could not check the key with Smile" in response.content.decode()
    assert not SmileConnection.objects.exists()


@pytest.mark.parametrize("key", ["", "short", "api_ with space"])
def test_malformed_keys_never_reach_smile(staff_client, smile_api, key):
    response = post_key(staff_client, key)
    assert response.status_code == 400
    assert not smile_api.calls


def test_the_key_never_reaches_the_logs(staff_client, smile_api, caplog):
    caplog.set_level(logging.DEBUG)
    smile_api["tiers"].respond(503)
    post_key(staff_client)
    smile_api["tiers"].respond(200, json={"vip_tiers": []})
    post_key(staff_client)
    assert SmileConnection.objects.get().status == "connected"
    assert KEY not in caplog.text


def test_a_key_replaces_a_broken_oauth_connection(staff_client, smile_api, oauth_connection):
    SmileConnection.objects.filter(pk=oauth_connection.pk).update(status="needs_reconnect")
    post_key(staff_client)
    connection = SmileConnection.objects.get()
    assert connection.auth_kind == "api_key" and connection.status == "connected"
    assert connection.refresh_token() == "" and connection.expires_at is None


def test_the_page_never_renders_a_submitted_key_back(staff_client, smile_api):
    smile_api["tiers"].respond(401)
    body = post_key(staff_client).content.decode()
    assert 'type="password"' in body and KEY not in body
