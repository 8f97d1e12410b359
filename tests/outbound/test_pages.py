"""The webhooks and alerts pages."""

import pytest

from loyalty_lists.merchants.models import Membership
from loyalty_lists.outbound.dispatch import dispatch_run
from loyalty_lists.outbound.models import AlertOptOut, Delivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client, merchant):
    user = Membership.objects.get(merchant=merchant).user
    client.force_login(user)
    return user


def test_adding_an_endpoint_shows_its_secret_once_then_its_page(client, admin, make_list, receiver):
    lst = make_list("all_members", name="Members")
    page = client.get("/webhooks/")
    assert page.status_code == 200 and "No endpoints yet" in page.content.decode()

    created = client.post(
        "/webhooks/",
        {"url": receiver.url, "event_types": ["joined", "left"], "list_ids": [lst.pk]},
        follow=True,
    )
    html = created.content.decode()
    assert "Copy your signing secret now" in html and 'value="whsec_' in html
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.event_types, endpoint.list_ids) == (["joined", "left"], [lst.pk])
    again = client.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert "Copy your signing secret now" not in again and endpoint.secret_hint in again
    assert receiver.url in client.get("/webhooks/").content.decode()


def test_a_bad_url_is_shown_on_the_form(client, admin, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = False
    response = client.post("/webhooks/", {"url": "http://10.0.0.1/x"})
    assert response.status_code == 422 and "private, loopback or link-local" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_editing_pausing_and_deleting_an_endpoint(client, admin, merchant, receiver):
    from loyalty_lists.outbound.endpoints import endpoint_create

    endpoint, _ = endpoint_create(merchant=merchant, url=receiver.url)
    page = client.post(f"/webhooks/{endpoint.pk}/", {"url": receiver.url, "description": "CRM"}, follow=True)
    assert "Endpoint saved." in page.content.decode()
    client.post(f"/webhooks/{endpoint.pk}/disable")
    assert "Deliveries are paused" in client.get(f"/webhooks/{endpoint.pk}/").content.decode()
    client.post(f"/webhooks/{endpoint.pk}/enable")
    assert WebhookEndpoint.objects.get().enabled
    rotated = client.post(f"/webhooks/{endpoint.pk}/rotate", follow=True).content.decode()
    assert "Copy your signing secret now" in rotated and "also signs until" in rotated
    assert "Delete this endpoint?" in client.get(f"/webhooks/{endpoint.pk}/delete").content.decode()
    client.post(f"/webhooks/{endpoint.pk}/delete")
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_log_shows_each_delivery_and_replays_one(
    client, admin, merchant, smile, run_cycle, make_list, receiver
):
    from loyalty_lists.outbound.endpoints import endpoint_create

    endpoint, _ = endpoint_create(merchant=merchant, url=receiver.url)
    smile.add_many(3)
    make_list("all_members")
    run_cycle()
    dispatch_run(seconds=10)
    html = client.get(f"/webhooks/{endpoint.pk}/").content.decode()
    delivery = Delivery.objects.get()
    assert "Delivered" in html and "HTTP 200" in html and delivery.message_id in html

    page = client.post(f"/webhooks/{endpoint.pk}/deliveries/{delivery.sequence}/replay", follow=True)
    assert "will be sent again" in page.content.decode()
    assert Delivery.objects.get().status == "pending"


def test_alert_emails_can_be_turned_off_and_on(client, admin, merchant):
    page = client.get("/alerts/").content.decode()
    assert "Stop emailing me" in page and "No alerts yet" in page
    client.post("/alerts/emails", {"emails": "off"})
    assert AlertOptOut.objects.filter(user=admin, merchant=merchant).exists()
    assert "Email me alerts" in client.get("/alerts/").content.decode()
    client.post("/alerts/emails", {"emails": "on"})
    assert not AlertOptOut.objects.exists()
