"""/api/v1/webhook-endpoints: the secret once, then only its hint; changes, rotation, the delivery log and
replays; other merchants' lists and endpoints are 404s."""

import pytest

from loyalty_lists.outbound.dispatch import dispatch_run
from loyalty_lists.outbound.models import Delivery, WebhookEndpoint

pytestmark = pytest.mark.django_db
BASE = "/api/v1/webhook-endpoints"


def patch(api, path, body):
    import json

    return api.client.patch(
        path, json.dumps(body), content_type="application/json", headers=api._headers(None)
    )


def test_creating_an_endpoint_shows_its_secret_once(api, make_list, receiver):
    lst = make_list("all_members")
    created = api.post(BASE, {"url": receiver.url, "event_types": ["joined", "left"], "list_ids": [lst.pk]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["secret_hint"] == body["secret"][:10] + "…"
    assert body["event_types"] == ["joined", "left"] and body["list_ids"] == [lst.pk] and body["enabled"]

    for answer in (api.get(BASE), api.get(f"{BASE}/{body['id']}")):
        assert answer.status_code == 200 and body["secret"] not in answer.content.decode()
        assert body["secret"][6:] not in answer.content.decode()
    assert body["secret"] not in WebhookEndpoint.objects.get().secret_encrypted


def test_an_endpoint_can_be_changed_paused_rotated_and_deleted(api, receiver):
    endpoint = api.post(BASE, {"url": receiver.url}).json()
    path = f"{BASE}/{endpoint['id']}"

    changed = patch(api, path, {"description": "CRM", "enabled": False, "event_types": ["list_held"]})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["enabled"], changed.json()["description"]) == (False, "CRM")
    assert changed.json()["disabled_reason"] == "Disabled by an admin."
    assert patch(api, path, {"enabled": True}).json()["enabled"] is True

    rotated = api.post(f"{path}/rotate-secret")
    assert rotated.status_code == 200 and rotated.json()["secret"] != endpoint["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None

    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/x"},
        {"url": "https://user:pw@example.com/"},
        {"url": "https://example.com/", "event_types": ["nope"]},
        {"url": "https://example.com/", "description": "   "},
        {"url": "https://example.com/", "list_ids": [0]},
    ],
)
def test_bad_input_is_a_422(api, body):
    response = api.post(BASE, body)
    assert response.status_code == 422 and response.json()["error"]["code"] == "validation_error"
    assert not WebhookEndpoint.objects.exists()


def test_a_private_address_is_a_422_in_production(api, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = False
    response = api.post(BASE, {"url": "http://127.0.0.1:8000/hooks"})
    assert (
        response.status_code == 422
        and "private, loopback or link-local" in response.json()["error"]["message"]
    )


def test_another_merchants_list_or_endpoint_is_a_404(api, merchant_factory, receiver):
    from loyalty_lists.lists.models import LoyaltyList
    from loyalty_lists.outbound.endpoints import endpoint_create

    other, _ = merchant_factory("other")
    theirs = LoyaltyList.objects.create(merchant=other, name="Theirs", audience="all_members")
    their_endpoint, _secret = endpoint_create(merchant=other, url=receiver.url)

    assert api.post(BASE, {"url": receiver.url, "list_ids": [theirs.pk]}).status_code == 404
    for response in (
        api.get(f"{BASE}/{their_endpoint.pk}"),
        api.delete(f"{BASE}/{their_endpoint.pk}"),
        api.post(f"{BASE}/{their_endpoint.pk}/rotate-secret"),
        api.get(f"{BASE}/{their_endpoint.pk}/deliveries"),
        patch(api, f"{BASE}/{their_endpoint.pk}", {"enabled": False}),
    ):
        assert response.status_code == 404
    assert api.get(BASE).json() == []
    assert WebhookEndpoint.objects.get(pk=their_endpoint.pk).enabled


def test_the_delivery_log_pages_and_a_replay_goes_out_again(
    api, merchant, smile, run_cycle, make_list, receiver, settings
):
    settings.OUTBOUND_BATCH_SIZE = 2
    endpoint = api.post(BASE, {"url": receiver.url}).json()
    smile.add_many(5)
    make_list("all_members")
    run_cycle()
    dispatch_run(seconds=10)

    first = api.get(f"{BASE}/{endpoint['id']}/deliveries", {"limit": 2}).json()
    assert [d["sequence"] for d in first["items"]] == [3, 2] and first["next_cursor"] == "2"
    rest = api.get(f"{BASE}/{endpoint['id']}/deliveries", {"cursor": first["next_cursor"]}).json()
    assert [d["sequence"] for d in rest["items"]] == [1] and rest["next_cursor"] is None
    delivery = rest["items"][0]
    assert delivery["status"] == "delivered" and delivery["event_count"] == 2
    assert delivery["attempt_log"][0]["status_code"] == 200 and delivery["attempt_log"][0]["latency_ms"] >= 0

    replay = api.post(f"{BASE}/{endpoint['id']}/deliveries/1/replay")
    assert replay.status_code == 202 and replay.json()["status"] == "pending"
    assert api.post(f"{BASE}/{endpoint['id']}/deliveries/99/replay").status_code == 404
    dispatch_run(seconds=10)
    assert receiver.requests[-1].message_id == delivery["message_id"]
    assert Delivery.objects.get(sequence=1).status == "delivered"


def test_rotating_the_encryption_key_keeps_signing_secrets(merchant, settings):
    import io

    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from loyalty_lists.outbound.endpoints import endpoint_create, endpoint_secret_rotate, endpoint_secrets

    endpoint, first = endpoint_create(merchant=merchant, url="https://hooks.example.com/x")
    second = endpoint_secret_rotate(endpoint=endpoint)
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    call_command("rotate_encryption_keys", stdout=io.StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    endpoint.refresh_from_db()
    assert endpoint_secrets(endpoint) == [second, first]
