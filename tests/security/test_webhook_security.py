"""Webhook security beyond tests/integrations/smile/test_webhooks.py (which covers a bad, a missing and a
non-base64 signature, one tampered digit, secret rotation and the header/encoding settings):

* *any* single changed byte of a signed body, a valid signature moved onto another body, a truncated
  signature → 401 and nothing queued (the django-q2 ORM queue stays empty);
* end to end against a live sandbox: a delivery replayed several times and an older delivery arriving
  after a newer one cause one effect and no rollback — the newer ``updated_at`` always wins, also when
  the refresh itself reads stale data.
"""

import importlib
import json

import pytest
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from integrations.smile.models import SmileConnection
from integrations.smile.services import connection_api_key_connect
from integrations.smile.types import CustomerData
from integrations.smile.webhooks import sign
from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListChange, ListItem, SmileCustomer, SyncRun
from loyalty_lists.merchants.models import Merchant

URL = "/integrations/smile/webhooks"
HEADER = "HTTP_X_SMILE_HMAC_SHA256"
API_KEY = "api_webhook_security_key"


def post(client, body: bytes, signature: str | None):
    headers = {HEADER: signature} if signature is not None else {}
    return client.post(URL, data=body, content_type="application/json", **headers)


@pytest.fixture
def hooked(db):
    merchant = Merchant.objects.create(slug="hooked", name="Hooked")
    SmileConnection.objects.create(merchant=merchant, status=SmileConnection.Status.CONNECTED, account_id="1")
    return merchant


def customer_body(customer: dict, account_id=1) -> bytes:
    return json.dumps(
        {"account_id": account_id, "topic": "customer/updated", "data": {"customer": customer}}
    ).encode()


def test_changing_any_single_byte_of_a_signed_body_is_401_and_queues_nothing(client, hooked):
    body = customer_body({"id": 17, "email": "a@b.c", "points_balance": 10})
    signature = sign(body)
    assert post(client, body, signature).status_code == 200  # the untouched body is accepted…
    OrmQ.objects.all().delete()
    for position in range(len(body)):
        tampered = body[:position] + bytes([body[position] ^ 0x01]) + body[position + 1 :]
        response = post(client, tampered, signature)
        assert response.status_code == 401, (position, tampered)
    assert post(client, body + b" ", signature).status_code == 401  # one byte appended
    assert post(client, body[:-1], signature).status_code == 401  # one byte removed
    assert OrmQ.objects.count() == 0


def test_a_valid_signature_of_another_body_or_a_truncated_one_is_401(client, hooked):
    first = customer_body({"id": 17, "email": "a@b.c"})
    second = customer_body({"id": 18, "email": "a@b.c"})
    assert post(client, second, sign(first)).status_code == 401
    assert post(client, first, sign(first)[:-4]).status_code == 401
    assert post(client, first, "").status_code == 401
    assert post(client, b"", sign(first)).status_code == 401
    assert OrmQ.objects.count() == 0


# --- replays and out-of-order deliveries, end to end ------------------------------------------------
def run_queued_tasks() -> list:
    """Execute the queued django-q2 tasks in queue order, in this process (what a worker would do)."""
    results = []
    for row in OrmQ.objects.order_by("id"):
        task = SignedPackage.loads(row.payload)
        module, name = task["func"].rsplit(".", 1)
        results.append(getattr(importlib.import_module(module), name)(*task["args"], **task["kwargs"]))
        row.delete()
    return results


class StaleSmile:
    """A Smile whose answer lags behind (a stale replica): always returns ``customer``."""

    def __init__(self, customer: CustomerData):
        self.customer = customer

    def get_customer(self, customer_id):
        return self.customer


@pytest.mark.e2e
@pytest.mark.django_db
def test_replayed_and_out_of_order_deliveries_cause_one_effect_and_no_rollback(
    client, smile_sandbox_factory, settings
):
    sandbox = smile_sandbox_factory(customers=40, seed=3, rate_limit=0, api_key=[API_KEY])
    settings.SMILE_API_BASE = sandbox.api_base
    settings.SMILE_RATE_LIMIT_PER_SECOND = 0
    settings.SMILE_WEBHOOK_SECRET = sandbox.client_secret
    merchant = Merchant.objects.create(slug="replays", name="Replays")
    connection_api_key_connect(merchant=merchant, user=None, api_key=API_KEY)
    SmileConnection.objects.filter(merchant=merchant).update(account_id="1")  # the sandbox's account
    members = services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    assert services.sync_cycle_run(merchant_id=merchant.pk, kind="full").status == "succeeded"

    target = next(c for c in sandbox.export()["customers"] if c["state"] == "member" and c["email"])
    cid = target["id"]
    old = sandbox.patch_customer(cid, points_balance=111)
    old_snapshot = SmileCustomer.objects.get(merchant=merchant, smile_id=cid)
    new = sandbox.patch_customer(cid, points_balance=222)
    assert new["updated_at"] > old["updated_at"]

    changes = ListChange.objects.filter(list=members, smile_customer_id=cid, kind="metadata_changed")
    assert changes.count() == 0
    new_body, old_body = customer_body(new), customer_body(old)
    deliveries = [new_body, new_body, new_body, old_body]  # three replays, then the older one
    answers = [post(client, body, sign(body)).json() for body in deliveries]
    assert answers == [{"ok": True, "queued": 1}] + [{"ok": True, "coalesced": 1}] * 3, answers
    run_queued_tasks()

    item = ListItem.objects.get(list=members, smile_customer_id=cid)
    assert item.points_balance == 222, "an older or replayed delivery rolled the item back"
    assert changes.count() == 1, list(changes.values_list("kind", "run_id"))  # one effect
    refreshes = SyncRun.objects.filter(merchant=merchant, kind="webhook")
    assert set(refreshes.values_list("status", flat=True)) == {"succeeded"}
    assert sum(refreshes.values_list("items_changed", flat=True)) == 1
    smile_calls = [r for r in sandbox.requests_log() if r["path"] == f"/v1/customers/{cid}"]
    assert len(smile_calls) == 1, "four deliveries, one Smile call"

    # Once refreshed, the same deliveries again are recognised from their updated_at: nothing queued.
    for body in (new_body, old_body):
        assert post(client, body, sign(body)).json() == {"ok": True, "known": 1}
    assert OrmQ.objects.count() == 0

    # A refresh that reads the older version (Smile's replica lagging) does not overwrite the newer data.
    stale = CustomerData(
        id=cid,
        email=old_snapshot.email,
        state="member",
        points_balance=111,
        vip_tier_id=old_snapshot.vip_tier_id,
        vip_tier_expires_at=old_snapshot.vip_tier_expires_at,
        created_at=old_snapshot.smile_created_at,
        updated_at=old_snapshot.smile_updated_at,
    )
    assert stale.updated_at < SmileCustomer.objects.get(merchant=merchant, smile_id=cid).smile_updated_at
    run = services.customer_refresh(merchant_id=merchant.pk, smile_customer_id=cid, client=StaleSmile(stale))
    assert run.status == "succeeded"
    assert ListItem.objects.get(list=members, smile_customer_id=cid).points_balance == 222
    assert SmileCustomer.objects.get(merchant=merchant, smile_id=cid).points_balance == 222
    assert changes.count() == 1

    # …and the next cycle agrees.
    assert services.sync_cycle_run(merchant_id=merchant.pk).status == "succeeded"
    assert ListItem.objects.get(list=members, smile_customer_id=cid).points_balance == 222
    assert changes.count() == 1
