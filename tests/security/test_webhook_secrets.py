"""Webhook signing secrets (``whsec_…``) stay secret: shown once (the page a creation or rotation
redirects to, the API answer of a create or rotate), then never again on a page or in an API answer;
never stored in plaintext; never logged, through creation, rotation and signed deliveries."""

import logging
import re

import pytest

from loyalty_lists.api.keys import api_key_create
from loyalty_lists.lists import services
from loyalty_lists.outbound.dispatch import dispatch_run
from loyalty_lists.outbound.models import WebhookEndpoint
from tests.lists.fakes import FakeSmile
from tests.security.test_secrets import dump_database, leaked
from tests.support.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def test_webhook_secrets_are_shown_once_and_never_stored_logged_or_shown_again(
    client, merchant_a, receiver, caplog, settings
):
    settings.OUTBOUND_CONCURRENCY = 1  # one thread: the test's transaction is not visible to others
    caplog.set_level(logging.DEBUG)
    shop, user = merchant_a
    client.force_login(user)
    secrets: dict[str, str] = {}

    created = client.post("/webhooks/", {"url": receiver.url, "description": "CRM"}, follow=True)
    (secrets["page secret"],) = re.findall(r'id="new-secret" value="(whsec_[^"]+)"', created.content.decode())
    endpoint = WebhookEndpoint.objects.get()
    rotated = client.post(f"/webhooks/{endpoint.pk}/rotate", follow=True)
    (secrets["rotated on the page"],) = re.findall(
        r'id="new-secret" value="(whsec_[^"]+)"', rotated.content.decode()
    )
    key = api_key_create(merchant=shop, name="k")[1]
    headers = {"Authorization": f"Bearer {key}"}
    made = client.post(
        "/api/v1/webhook-endpoints", {"url": receiver.url}, content_type="application/json", headers=headers
    ).json()
    secrets["api secret"] = made["secret"]
    secrets["rotated by the api"] = client.post(
        f"/api/v1/webhook-endpoints/{made['id']}/rotate-secret", headers=headers
    ).json()["secret"]
    secrets |= {f"{name} (key part)": value[len("whsec_") :] for name, value in list(secrets.items())}

    smile = FakeSmile()
    smile.add_many(2)
    services.list_create(merchant=shop, name="Members", audience="all_members", enqueue=False)
    services.sync_cycle_run(merchant_id=shop.pk, kind="full", client=smile)
    dispatch_run(seconds=10)
    assert len(receiver.accepted()) == 2  # signed with the secrets (and the rotated-away ones)

    seen = []
    for path in ["/webhooks/", f"/webhooks/{endpoint.pk}/", f"/webhooks/{made['id']}/", "/", "/alerts/"]:
        response = client.get(path)
        assert response.status_code == 200, path
        seen.append(response.content.decode())
    for path in [
        "/api/v1/webhook-endpoints",
        f"/api/v1/webhook-endpoints/{made['id']}",
        f"/api/v1/webhook-endpoints/{made['id']}/deliveries",
        "/api/v1/changes",
    ]:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, path
        seen.append(response.content.decode())
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)

    assert "whsec_" in "\n".join(seen), "pages and answers show the hint"
    assert leaked(secrets, "\n".join(seen)) == []
    assert leaked(secrets, dump_database()) == []
    assert "Webhook endpoint" in logged and leaked(secrets, logged) == []
