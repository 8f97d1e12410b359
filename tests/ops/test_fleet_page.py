"""The Fleet page (/admin/fleet/): Django staff users see every merchant's lag, failures, held runs and
queues; merchants' users (not staff) and anonymous visitors are sent to the admin login."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.smile.models import SmileConnection
from loyalty_lists.lists.models import ListRunResult, LoyaltyList, SyncRun, SyncState

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user(email="ops@example.com", password="x" * 20, is_staff=True)


@pytest.fixture
def fleet(merchant_factory):
    now = timezone.now()
    fresh, _ = merchant_factory("fresh")
    behind, _ = merchant_factory("behind")
    broken, _ = merchant_factory("broken")
    held, _ = merchant_factory("heldshop")
    for merchant, lag in ((fresh, 2), (behind, 300), (held, 5)):
        SmileConnection.objects.create(merchant=merchant, status="connected")
        SyncState.objects.create(merchant=merchant, watermark=now - timedelta(minutes=lag))
    SmileConnection.objects.create(
        merchant=broken,
        status="needs_reconnect",
        last_error_message="Smile revoked the token",
        last_error_at=now,
    )
    run = SyncRun.objects.create(merchant=held, kind="delta", status="held", started_at=now)
    lst = LoyaltyList.objects.create(merchant=held, name="Gold VIPs", audience="all_members")
    ListRunResult.objects.create(
        merchant=held, run=run, list=lst, outcome="held", removed=450, list_size=900, decision="pending"
    )
    return fresh, behind, broken, held


def test_operators_see_merchants_by_lag_failures_and_held_runs(client, operator, fleet):
    client.force_login(operator)
    response = client.get("/admin/fleet/")

    assert response.status_code == 200
    page = response.content.decode()
    lag_table = page[page.index('id="lag"') : page.index('id="failing"')]
    assert lag_table.index("behind") < lag_table.index("heldshop") < lag_table.index("fresh"), "worst first"
    assert "Smile revoked the token" in page and "Needs reconnect" in page
    held_table = page[page.index('id="held"') :]
    assert "Gold VIPs" in held_table and "450" in held_table
    assert "Tasks waiting in queue <code>loyalty_lists</code>" in page


def test_a_merchants_user_is_not_an_operator(client, merchant_factory, fleet):
    _merchant, user = merchant_factory("someone")
    client.force_login(user)
    response = client.get("/admin/fleet/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.logout()
    response = client.get("/admin/fleet/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_page_reads_a_fixed_number_of_queries_whatever_the_fleet(
    client, operator, fleet, merchant_factory
):
    client.force_login(operator)
    client.get("/admin/fleet/")  # warm (session, content types)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get("/admin/fleet/")
    for n in range(30):
        merchant, _ = merchant_factory(f"more{n}")
        SmileConnection.objects.create(merchant=merchant, status="connected")
        SyncState.objects.create(merchant=merchant, watermark=timezone.now())
    with CaptureQueriesContext(connection) as many:
        client.get("/admin/fleet/")
    assert len(many) == len(few)
