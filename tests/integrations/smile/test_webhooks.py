"""The webhook receiver: POST /integrations/smile/webhooks."""

import base64
import hashlib
import hmac
import json

import pytest
from django.test import override_settings
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from integrations.smile.models import SmileConnection
from integrations.smile.webhooks import sign, signature_valid

URL = "/integrations/smile/webhooks"
HEADER = "HTTP_X_SMILE_HMAC_SHA256"


@pytest.fixture
def connected(merchant_factory):
    merchant, _ = merchant_factory("hooked")
    SmileConnection.objects.create(
        merchant=merchant, status=SmileConnection.Status.CONNECTED, account_id="4242"
    )
    return merchant


def body_for(customer_id=17, account_id=4242, topic="customer/updated") -> bytes:
    return json.dumps(
        {
            "account_id": account_id,
            "topic": topic,
            "data": {"customer": {"id": customer_id, "email": "a@b.c"}},
        }
    ).encode()


def post(client, body: bytes, signature: str | None, **headers):
    if signature is not None:
        headers[HEADER] = signature
    return client.post(URL, data=body, content_type="application/json", **headers)


def queued() -> list[dict]:
    return [SignedPackage.loads(q.payload) for q in OrmQ.objects.all()]


def test_a_signed_customer_update_queues_a_refresh_of_that_customer(client, connected):
    body = body_for(customer_id=17)
    response = post(client, body, sign(body))
    assert response.status_code == 200 and response.json() == {"ok": True, "queued": 1}
    [task] = queued()
    assert task["func"] == "loyalty_lists.lists.tasks.customer_refresh_task"
    assert task["args"] == (connected.pk, 17)


def test_a_bad_signature_is_401_and_queues_nothing(client, connected):
    body = body_for()
    response = post(client, body, sign(body, secret="not-the-secret"))
    assert response.status_code == 401
    assert OrmQ.objects.count() == 0


def test_a_missing_signature_is_401(client, connected):
    assert post(client, body_for(), None).status_code == 401
    assert OrmQ.objects.count() == 0


def test_a_body_changed_by_one_byte_is_401(client, connected):
    body = body_for(customer_id=17)
    signature = sign(body)
    tampered = body.replace(b"17", b"18")
    assert post(client, tampered, signature).status_code == 401
    assert OrmQ.objects.count() == 0


def test_a_signature_that_is_not_base64_is_401(client, connected):
    assert post(client, body_for(), "%%%not-base64%%%").status_code == 401


@override_settings(SMILE_WEBHOOK_SECRET="new-secret", SMILE_CLIENT_SECRET_PREVIOUS="old-secret")
def test_during_a_secret_rotation_both_the_new_and_the_previous_secret_are_accepted(client, connected):
    body = body_for()
    assert post(client, body, sign(body, secret="new-secret")).status_code == 200
    assert post(client, body, sign(body, secret="old-secret")).status_code == 200
    assert post(client, body, sign(body, secret="older-secret")).status_code == 401
    assert OrmQ.objects.count() == 2


@override_settings(SMILE_WEBHOOK_SIGNATURE_ENCODING="hex", SMILE_WEBHOOK_SIGNATURE_HEADER="X-Signature")
def test_the_header_name_and_the_hex_encoding_are_settings(client, connected, settings):
    body = body_for()
    digest = hmac.new(settings.SMILE_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert post(client, body, None, HTTP_X_SIGNATURE=digest).status_code == 200
    b64 = base64.b64encode(bytes.fromhex(digest)).decode()
    assert post(client, body, None, HTTP_X_SIGNATURE=b64).status_code == 401


def test_ping_is_answered(client, db):
    body = json.dumps({"account_id": 1, "topic": "ping", "data": {}}).encode()
    response = post(client, body, sign(body))
    assert response.status_code == 200 and response.json()["topic"] == "ping"
    assert OrmQ.objects.count() == 0


def test_an_unknown_account_is_acknowledged_and_ignored(client, connected):
    body = body_for(account_id=999)
    response = post(client, body, sign(body))
    assert response.status_code == 200 and response.json()["ignored"] is True
    assert OrmQ.objects.count() == 0


def test_a_disconnected_merchant_gets_no_refresh(client, connected):
    SmileConnection.objects.update(status=SmileConnection.Status.DISCONNECTED)
    body = body_for()
    assert post(client, body, sign(body)).status_code == 200
    assert OrmQ.objects.count() == 0


def test_an_unknown_topic_is_acknowledged_and_ignored(client, connected):
    body = body_for(topic="points_transaction/created")
    assert post(client, body, sign(body)).json()["ignored"] is True
    assert OrmQ.objects.count() == 0


def test_a_signed_body_that_is_not_json_is_400(client, connected):
    body = b"not json"
    assert post(client, body, sign(body)).status_code == 400


def test_a_customer_update_without_a_customer_id_is_400(client, connected):
    body = json.dumps({"account_id": 4242, "topic": "customer/updated", "data": {}}).encode()
    assert post(client, body, sign(body)).status_code == 400
    assert OrmQ.objects.count() == 0


def test_only_post_is_allowed(client, db):
    assert client.get(URL).status_code == 405


def test_the_signature_check_needs_the_exact_bytes():
    body = b'{"a":1}'
    assert signature_valid(body, sign(body))
    assert not signature_valid(body + b" ", sign(body))
    assert not signature_valid(body, "")
