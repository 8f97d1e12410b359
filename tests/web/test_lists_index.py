from django.utils import timezone

from loyalty_lists.lists.models import ListRunResult, SyncRun

from .conftest import connect, make_items, make_list, make_tier, row_with, start_run


def test_it_asks_to_connect_smile_when_there_are_no_lists(staff):
    response = staff.get("/lists/")
    assert response.status_code == 200
    assert "Connect Smile to create your first list" in response.content.decode()
    assert 'href="/lists/new/"' not in response.content.decode()


def test_it_offers_to_create_the_first_list_once_connected(staff, connected):
    body = staff.get("/lists/").content.decode()
    assert "No lists yet." in body
    assert "Create your first list" in body and 'href="/lists/new/"' in body


def test_it_shows_name_audience_tier_member_count_and_last_synced(staff, merchant, connected):
    make_tier(merchant, 7, "Gold")
    members = make_list(merchant, "Loyal shoppers")
    make_items(members, [{"email": f"s{n}@example.com"} for n in range(1234)])
    make_list(merchant, "Gold VIPs", audience="vip_tier", tier=7)
    body = staff.get("/lists/").content.decode()
    assert "Loyal shoppers" in body and "All loyalty members" in body
    assert "Gold VIPs" in body and "One VIP tier" in body and "Gold" in body
    assert "1,234" in body  # numbers formatted
    assert "just now" in body  # relative hint for last synced
    assert "Not synced yet" in body  # the tier list never published


def test_it_badges_stale_and_held_lists(staff, merchant, connected):
    stale = make_list(
        merchant,
        "Old tier",
        audience="vip_tier",
        tier=9,
        stale_since=timezone.now(),
        stale_reason="The VIP tier “Bronze” (#9) no longer exists in Smile.",
    )
    held = make_list(merchant, "Members")
    run = SyncRun.objects.create(merchant=merchant, kind="delta", status="held", started_at=timezone.now())
    ListRunResult.objects.create(
        merchant=merchant, run=run, list=held, outcome="held", removed=500, list_size=600, decision="pending"
    )
    body = staff.get("/lists/").content.decode()
    row_stale, row_held = row_with(body, "Old tier"), row_with(body, f"/lists/{held.pk}/")
    assert "Stale" in row_stale and "Held" not in row_stale
    assert "Held" in row_held and "Stale" not in row_held
    assert stale.stale_reason in row_stale  # as the badge's title


def test_it_lists_only_the_merchants_own_lists(staff, merchant, other_merchant):
    make_list(merchant, "Mine")
    make_list(other_merchant, "Theirs")
    body = staff.get("/lists/").content.decode()
    assert "Mine" in body and "Theirs" not in body


def test_it_asks_to_reconnect_when_smile_refuses_the_credentials(staff, merchant):
    connect(merchant, status="needs_reconnect")
    make_list(merchant, "Members")
    body = staff.get("/lists/").content.decode()
    assert "Smile needs reconnecting." in body


def test_it_shows_a_polling_progress_bar_while_a_sync_runs(staff, merchant, connected):
    make_list(merchant, "Members")
    start_run(merchant, "full", pages_fetched=3, customers_fetched=750)
    body = staff.get("/lists/").content.decode()
    assert "<progress" in body
    assert 'hx-trigger="every 1s"' in body
    assert "750" in body


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/lists/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
