"""The overview: connection, lists needing attention, the sync panel."""

from django.utils import timezone

from loyalty_lists.lists.models import ListRunResult, SyncRun

from .conftest import connect, make_list


def test_a_new_merchant_is_asked_to_connect_smile(staff, merchant):
    body = staff.get("/").content.decode()
    assert merchant.name in body
    assert "Connect Smile to create your first list." in body and 'href="/integrations/smile/"' in body
    assert "Connect Smile to sync." in body and 'id="sync-now"' not in body


def test_a_connected_merchant_without_lists_is_invited_to_create_one(staff, connected):
    body = staff.get("/").content.decode()
    assert "Create your first list" in body and 'id="sync-now"' in body


def test_stale_and_held_lists_need_attention(staff, merchant, connected):
    make_list(
        merchant, "Bronze", audience="vip_tier", tier=5, stale_since=timezone.now(), stale_reason="Tier gone."
    )
    held = make_list(merchant, "Members")
    run = SyncRun.objects.create(merchant=merchant, kind="delta", status="held", started_at=timezone.now())
    ListRunResult.objects.create(
        merchant=merchant, run=run, list=held, outcome="held", removed=300, list_size=400, decision="pending"
    )
    body = staff.get("/").content.decode()
    assert "Needs your attention" in body
    assert "would remove 300 of 400 members" in body and "Tier gone." in body


def test_a_merchant_needing_reconnect_is_told_so(staff, merchant):
    connect(merchant, status="needs_reconnect")
    body = staff.get("/").content.decode()
    assert "Reconnect Smile" in body and "Reconnect Smile to sync again." in body


def test_staff_without_a_merchant_get_a_404(client, django_user_model):
    user = django_user_model.objects.create_user(email="lonely@example.com", password="x-long-password-1")
    client.force_login(user)
    for url in ["/", "/lists/", "/runs/", "/shoppers/", "/lists/new/"]:
        assert client.get(url).status_code == 404


def test_the_smile_account_is_named_when_smile_told_us_its_name(staff, connected):
    assert "Connected to <strong" in staff.get("/").content.decode()
    assert ">Smile account 42</strong>" in staff.get("/").content.decode()  # no name: the id
    connected.account_name = "Corner Shop"
    connected.save()
    assert ">Corner Shop</strong>" in staff.get("/").content.decode()
    page = staff.get("/integrations/smile/").content.decode()
    assert 'id="account-name">Corner Shop <span class="muted">(account 42)</span>' in page
