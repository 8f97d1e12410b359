"""Signed webhooks delivered to a tiny local receiver."""

import base64
import hashlib
import hmac
import json
import time

import pytest

from tests.support.sandbox import SandboxError, SandboxProcess

from .conftest import Receiver

pytestmark = pytest.mark.e2e


def signature(body: bytes, secret: str = "sandbox-secret", encoding: str = "base64") -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()


@pytest.fixture(scope="module")
def shared():
    receiver = Receiver()
    with SandboxProcess(customers=30, rate_limit=0, webhook_url=receiver.url) as sandbox:
        yield sandbox, receiver
    receiver.close()


@pytest.fixture
def hooked(shared):
    """The module's sandbox + receiver, with every earlier delivery finished and forgotten."""
    sandbox, receiver = shared
    sandbox.webhook_deliveries(wait=10)
    receiver.reset()
    sandbox.control("DELETE", "webhooks/deliveries")
    yield sandbox, receiver
    sandbox.webhook_deliveries(wait=10)


def test_a_patch_sends_a_signed_customer_updated_webhook(hooked):
    sandbox, receiver = hooked
    target = sandbox.export()["customers"][0]["id"]
    patched = sandbox.patch_customer(target, points_balance=999)
    headers, body = receiver.wait_for(1)[0]
    assert headers["x-smile-hmac-sha256"] == signature(body)
    assert headers["x-smile-hmac-sha256"] != signature(body, secret="other-secret")
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert set(payload) == {"account_id", "topic", "data"}
    assert payload["account_id"] == 1 and payload["topic"] == "customer/updated"
    assert payload["data"]["customer"] == patched and "vip_status" in payload["data"]["customer"]
    deliveries = sandbox.webhook_deliveries()
    assert [(d["topic"], d["customer_id"], d["status"]) for d in deliveries] == [
        ("customer/updated", target, 200)
    ]


def test_create_sends_a_webhook_but_delete_does_not(hooked):
    sandbox, receiver = hooked
    created = sandbox.create_customer(email="hook@example.com")
    receiver.wait_for(1)
    sandbox.delete_customer(created["id"])
    time.sleep(0.3)
    assert len(receiver.received) == 1
    assert json.loads(receiver.received[0][1])["data"]["customer"]["id"] == created["id"]


def test_ping_has_empty_data(hooked):
    sandbox, receiver = hooked
    sandbox.ping_webhook()
    headers, body = receiver.wait_for(1)[0]
    assert json.loads(body) == {"account_id": 1, "topic": "ping", "data": {}}
    assert headers["x-smile-hmac-sha256"] == signature(body)


def test_duplicates_and_out_of_order_resends(hooked):
    sandbox, receiver = hooked
    target = sandbox.export()["customers"][3]["id"]
    sandbox.patch_customer(target, points_balance=1)
    sandbox.patch_customer(target, points_balance=2)
    receiver.wait_for(2)
    sandbox.send_webhook(target, duplicate=True)
    sandbox.send_webhook(target, previous=True)
    bodies = [b for _, b in receiver.wait_for(5)]
    assert bodies[2] == bodies[3]  # an exact duplicate delivery
    stale = json.loads(bodies[4])["data"]["customer"]
    latest = json.loads(bodies[3])["data"]["customer"]
    assert stale["points_balance"] == 1 and latest["points_balance"] == 2
    assert stale["updated_at"] < latest["updated_at"]
    assert sum(d["duplicate"] for d in sandbox.webhook_deliveries()) == 1


def test_hex_encoding_and_custom_header(smile_sandbox_factory, webhook_receiver):
    sandbox = smile_sandbox_factory(
        customers=5,
        webhook_url=webhook_receiver.url,
        webhook_header="X-Signature",
        webhook_encoding="hex",
        client_secret="s3cret",
    )
    sandbox.ping_webhook()
    headers, body = webhook_receiver.wait_for(1)[0]
    assert headers["x-signature"] == signature(body, "s3cret", "hex")
    assert "x-smile-hmac-sha256" not in headers


def test_failed_deliveries_are_recorded(hooked):
    sandbox, receiver = hooked
    receiver.status = 500
    sandbox.ping_webhook()
    receiver.wait_for(1)
    assert [d["status"] for d in sandbox.webhook_deliveries()] == [500]


def test_a_slow_receiver_never_blocks_the_control_call(hooked):
    sandbox, receiver = hooked
    receiver.delay = 1.5
    target = sandbox.export()["customers"][0]["id"]
    t0 = time.monotonic()
    sandbox.patch_customer(target, points_balance=5)
    assert time.monotonic() - t0 < 1.0
    receiver.wait_for(1)


def test_without_a_webhook_url_sending_is_refused(hooked):
    sandbox, receiver = hooked
    sandbox.settings(webhook_url=None)
    try:
        with pytest.raises(SandboxError) as exc:
            sandbox.ping_webhook()
        assert exc.value.status == 409
        sandbox.patch_customer(sandbox.export()["customers"][0]["id"], points_balance=3)
        assert sandbox.webhook_deliveries(wait=0.5) == [] and receiver.received == []
    finally:
        sandbox.settings(webhook_url=receiver.url)
