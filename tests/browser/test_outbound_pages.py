"""The webhooks page and the overview's alert notices in a real Chromium (issue 18), with screenshots at
desktop and mobile widths (``test-artifacts/screenshots/``)."""

import pytest
from playwright.sync_api import expect

from integrations.smile.models import SmileConnection
from loyalty_lists.lists import services
from loyalty_lists.outbound.alerts import alerts_evaluate
from loyalty_lists.outbound.dispatch import dispatch_run
from tests.support.receiver import Receiver

from .conftest import connected_with_synced_lists, log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def test_adding_an_endpoint_shows_the_secret_once_and_the_log_shows_each_delivery_with_replay(
    page, live_server, sandbox, staff, receiver
):
    merchant, user = staff
    lists = connected_with_synced_lists(merchant, sandbox, **{"All members": {"audience": "all_members"}})
    log_in(page, live_server.url, user)
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()
    screenshot(page, "webhooks-empty")

    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_label("Description").fill("CRM sync")
    page.get_by_label("Joined").check()
    page.get_by_label("Left").check()
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("#new-secret").input_value()
    assert secret.startswith("whsec_")
    screenshot(page, "webhook-endpoint-new-secret")
    page.reload()
    expect(page.locator("#new-secret")).to_have_count(0)
    assert secret not in page.content()

    # Changes flow: a shopper leaves the list; the dispatcher delivers (here, in this process).
    member = next(iter(lists.values())).items.order_by("smile_customer_id").first()
    sandbox.patch_customer(member.smile_customer_id, state="candidate")
    services.sync_cycle_run(merchant_id=merchant.pk)
    dispatch_run(seconds=20)
    (event,) = receiver.events(secret)
    assert (event["kind"], event["shopper"]["smile_customer_id"]) == ("left", member.smile_customer_id)

    page.reload()
    log = page.locator("#deliveries")
    expect(log).to_contain_text("Delivered")
    expect(log).to_contain_text("HTTP 200")
    screenshot(page, "webhook-endpoint-log")
    page.get_by_role("button", name="Replay delivery 1").click()
    expect(page.get_by_text("Delivery #1 will be sent again.")).to_be_visible()
    dispatch_run(seconds=20)
    assert len(receiver.requests) == 2 and receiver.requests[0].message_id == receiver.requests[1].message_id

    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_text("Deliveries are paused")).to_be_visible()
    screenshot(page, "webhook-endpoint-disabled")
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Webhooks").click()
    expect(page.locator("#endpoints")).to_contain_text("Disabled")
    screenshot(page, "webhooks")


def test_alerts_show_on_the_overview_until_resolved_and_emails_can_be_turned_off(
    page, live_server, sandbox, staff, mailoutbox
):
    merchant, user = staff
    connected_with_synced_lists(merchant, sandbox, **{"All members": {"audience": "all_members"}})
    SmileConnection.objects.filter(merchant=merchant).update(
        status="needs_reconnect", last_error_message="Token refresh failed: invalid_grant"
    )
    alerts_evaluate(merchant.pk)
    assert [m.subject for m in mailoutbox] == ["[Corner Shop] Smile connection needs reconnecting"]

    log_in(page, live_server.url, user)
    notices = page.locator("section.notices")
    expect(notices).to_contain_text("Smile connection needs reconnecting")
    expect(notices).to_contain_text("invalid_grant")
    screenshot(page, "overview-alert")

    SmileConnection.objects.filter(merchant=merchant).update(status="connected")
    alerts_evaluate(merchant.pk)
    page.reload()
    expect(notices).to_contain_text("Resolved")
    screenshot(page, "overview-alert-resolved")

    notices.get_by_role("link", name="All alerts and email settings").click()
    page.get_by_role("button", name="Stop emailing me").click()
    expect(page.get_by_text("You will no longer get alert emails")).to_be_visible()
    screenshot(page, "alerts")
    SmileConnection.objects.filter(merchant=merchant).update(status="needs_reconnect")
    alerts_evaluate(merchant.pk)
    assert len(mailoutbox) == 2, "the resolved mail, and nothing after opting out"
