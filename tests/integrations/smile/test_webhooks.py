"""The webhook receiver: POST /integrations/smile/webhooks."""

import base64
import hashlib
import hmac
import json

import pytest
from django.test import override_settings
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from integrations.smile.models import SmileConnection, UnroutedWebhook
from integrations.smile.webhooks import sign, signature_valid
from loyalty_lists.lists.models import RefreshRequest

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
    assert task["args"] == (connected.pk,)
    assert list(RefreshRequest.objects.values_list("merchant_id", "smile_customer_id")) == [
        (connected.pk, 17)
    ]


def test_repeated_deliveries_for_one_customer_wait_as_one_refresh_with_one_task(client, connected):
    body = body_for(customer_id=17)
    answers = [post(client, body, sign(body)).json() for _ in range(300)]

    assert answers[0] == {"ok": True, "queued": 1}
    assert all(a == {"ok": True, "coalesced": 1} for a in answers[1:])
    [request] = RefreshRequest.objects.all()
    assert request.deliveries == 300
    assert len(queued()) == 1, "one refresh task, not 300"


def test_a_delivery_older_than_what_the_snapshot_has_is_recognised_and_queues_nothing(client, connected):
    from datetime import UTC, datetime

    from loyalty_lists.lists.models import SmileCustomer

    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    SmileCustomer.objects.create(
        merchant=connected,
        smile_id=17,
        email="a@b.c",
        state="member",
        smile_created_at=now,
        smile_updated_at=now,
        last_seen_at=now,
    )
    for updated_at in ("2026-12-06T12:00:00.000Z", "2026-12-06T11:59:00.000Z"):  # the same, and older
        body = json.dumps(
            {
                "account_id": 4242,
                "topic": "customer/updated",
                "data": {"customer": {"id": 17, "updated_at": updated_at}},
            }
        ).encode()
        assert post(client, body, sign(body)).json() == {"ok": True, "known": 1}
    assert not RefreshRequest.objects.exists() and not queued()


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
    assert RefreshRequest.objects.get().deliveries == 2


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


def test_an_unknown_account_is_acknowledged_and_counted_as_unrouted(client, connected):
    body = body_for(account_id=999)
    for _ in range(3):
        response = post(client, body, sign(body))
        assert response.status_code == 200 and response.json() == {"ok": True, "unrouted": True}
    row = UnroutedWebhook.objects.get(account_id="999")
    assert (row.deliveries, row.customer_id, row.customer_email) == (3, 17, "a@b.c")
    assert OrmQ.objects.count() == 0, "no connection lacks its account id: nothing to bind"


def test_an_unknown_account_asks_once_to_be_bound_when_a_connection_does_not_know_its_account(
    client, connected, merchant_factory, django_capture_on_commit_callbacks
):
    other, _ = merchant_factory("unbound")
    SmileConnection.objects.create(merchant=other, status="connected", auth_kind="oauth", account_id="")
    body = body_for(account_id=555)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            post(client, body, sign(body))
    assert [t["func"] for t in queued()] == ["integrations.smile.tasks.webhook_account_bind_task"]
    assert queued()[0]["args"] == ("555",)


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


def _assert_refused(response, status, caplog):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json" and "error" in response.json()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")], caplog.text
    assert OrmQ.objects.count() == 0 and not RefreshRequest.objects.exists()


def test_a_signed_200000_deep_json_array_is_a_400_not_a_crash(client, connected, caplog):
    body = b"[" * 200_000 + b"]" * 200_000
    _assert_refused(post(client, body, sign(body)), 400, caplog)


@pytest.mark.parametrize("customer_id", [2**70, 2**63, 0, -5, "17", 17.0, True, None])
def test_a_customer_id_that_is_not_a_positive_64_bit_integer_is_a_400(client, connected, caplog, customer_id):
    body = json.dumps(
        {"account_id": 4242, "topic": "customer/updated", "data": {"customer": {"id": customer_id}}}
    ).encode()
    _assert_refused(post(client, body, sign(body)), 400, caplog)


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2, 3],
        "customer/updated",
        {"account_id": 4242, "topic": "customer/updated", "data": []},
        {"account_id": 4242, "topic": "customer/updated", "data": {"customer": "17"}},
        {"account_id": [4242], "topic": "customer/updated", "data": {"customer": {"id": 17}}},
        {"account_id": True, "topic": "customer/updated", "data": {"customer": {"id": 17}}},
    ],
)
def test_signed_bodies_of_the_wrong_shape_are_a_400(client, connected, caplog, payload):
    body = json.dumps(payload).encode()
    _assert_refused(post(client, body, sign(body)), 400, caplog)


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 20 * 1024 * 1024])
def test_an_oversized_unsigned_body_is_a_json_413_without_an_error_in_the_log(client, db, caplog, size):
    response = client.post(URL, data=b"x" * size, content_type="application/json")
    _assert_refused(response, 413, caplog)


def test_a_customer_id_at_the_64_bit_limit_is_queued(client, connected):
    body = body_for(customer_id=2**63 - 1)
    assert post(client, body, sign(body)).json() == {"ok": True, "queued": 1}
