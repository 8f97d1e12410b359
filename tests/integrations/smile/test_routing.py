"""Binding a Smile account to its connection when Smile's token response did not name it (routing.py)."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from integrations.smile import routing
from integrations.smile.models import SmileConnection, UnroutedWebhook
from integrations.smile.types import CustomerData
from loyalty_lists.lists.models import RefreshRequest

pytestmark = pytest.mark.django_db
T = datetime(2026, 12, 6, 12, tzinfo=UTC)


class Smile:
    """Each merchant's Smile API: the customers its account has."""

    def __init__(self, customers_by_merchant):
        self.customers_by_merchant = customers_by_merchant
        self.asked = []

    def __call__(self, merchant, **kwargs):
        smile = self

        class Client:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return None

            def get_customer(self, customer_id):
                smile.asked.append(merchant.slug)
                return smile.customers_by_merchant.get(merchant.slug, {}).get(customer_id)

        return Client()


def customer(cid, email="ann@example.com", updated=T):
    return CustomerData(cid, email, "member", 1, None, None, T, updated)


def unrouted(account_id="777", customer_id=42, email="Ann@Example.com", updated="2026-12-06T12:00:00Z"):
    now = timezone.now()
    return UnroutedWebhook.objects.create(
        account_id=account_id,
        deliveries=3,
        customer_id=customer_id,
        customer_email=email,
        customer_updated_at=updated,
        first_received_at=now,
        last_received_at=now,
    )


@pytest.fixture
def two_unbound(merchant_factory):
    shops = [merchant_factory(slug)[0] for slug in ("first", "second")]
    for shop in shops:
        SmileConnection.objects.create(merchant=shop, status="connected", auth_kind="oauth", account_id="")
    return shops


def test_the_connection_whose_api_has_the_customer_gets_the_account(two_unbound):
    first, second = two_unbound
    unrouted()
    smile = Smile({"second": {42: customer(42)}})

    bound = routing.account_bind(account_id="777", client_for=smile)

    assert bound.merchant == second
    assert SmileConnection.objects.get(merchant=second).account_id == "777"
    assert SmileConnection.objects.get(merchant=first).account_id == ""
    assert UnroutedWebhook.objects.get().bound_to == bound
    # the webhook that started it is not lost: its customer is refreshed for the merchant
    assert RefreshRequest.objects.filter(merchant=second, smile_customer_id=42).exists()


def test_a_namesake_customer_with_another_email_is_not_proof(two_unbound):
    unrouted()
    smile = Smile({"first": {42: customer(42, email="someone.else@example.com")}})

    assert routing.account_bind(account_id="777", client_for=smile) is None
    assert not SmileConnection.objects.exclude(account_id="").exists()


def test_an_older_copy_of_the_customer_is_not_proof(two_unbound):
    unrouted()
    smile = Smile({"first": {42: customer(42, updated=datetime(2026, 12, 1, tzinfo=UTC))}})
    assert routing.account_bind(account_id="777", client_for=smile) is None


def test_once_bound_the_accounts_webhooks_are_routed(client, two_unbound):
    import json

    from integrations.smile.webhooks import sign

    unrouted()
    routing.account_bind(account_id="777", client_for=Smile({"first": {42: customer(42)}}))
    body = json.dumps(
        {"account_id": 777, "topic": "customer/updated", "data": {"customer": {"id": 9}}}
    ).encode()
    response = client.post(
        "/integrations/smile/webhooks",
        data=body,
        content_type="application/json",
        HTTP_X_SMILE_HMAC_SHA256=sign(body),
    )
    assert response.json() == {"ok": True, "queued": 1}
