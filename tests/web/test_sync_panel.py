"""The sync panel on the Smile connection page: last good sync, last error, Sync now, progress."""

from datetime import timedelta

from django.utils import timezone

from loyalty_lists.lists.models import SyncRun

from .conftest import start_run


def test_the_connection_page_shows_the_sync_panel(staff, merchant, connected):
    now = timezone.now()
    SyncRun.objects.create(
        merchant=merchant,
        kind="full",
        status="succeeded",
        started_at=now - timedelta(minutes=30),
        finished_at=now - timedelta(minutes=29),
        pages_fetched=12,
        customers_fetched=2900,
    )
    body = staff.get("/integrations/smile/").content.decode()
    assert 'aria-labelledby="sync-heading"' in body and 'id="sync-now"' in body
    assert 'action="/sync-now/"' in body and 'name="next" value="/integrations/smile/"' in body
    assert "12 pages, 2,900 customers" in body and "29\xa0minutes ago" in body


def test_it_shows_the_last_error_next_to_the_last_good_sync(staff, merchant, connected):
    now = timezone.now()
    SyncRun.objects.create(
        merchant=merchant,
        kind="delta",
        status="succeeded",
        started_at=now - timedelta(days=1),
        finished_at=now - timedelta(days=1),
    )
    SyncRun.objects.create(
        merchant=merchant,
        kind="delta",
        status="failed",
        started_at=now,
        finished_at=now,
        error_message="The Smile connection needs reconnecting: invalid_grant",
    )
    body = staff.get("/integrations/smile/").content.decode()
    assert 'id="last-sync-error"' in body and "invalid_grant" in body
    assert "Last good sync:" in body and "1\xa0day ago" in body


def test_the_panel_polls_while_a_sync_runs_without_reloading_the_page(staff, merchant, connected):
    start_run(merchant)
    body = staff.get("/integrations/smile/").content.decode()
    assert 'hx-get="/runs/progress/?watching=1"' in body  # no refresh=1: the API key form keeps its input


def test_the_panel_times_are_in_the_merchants_time_zone(staff, merchant, connected):
    merchant.timezone = "Asia/Tokyo"
    merchant.save()
    SyncRun.objects.create(
        merchant=merchant,
        kind="delta",
        status="succeeded",
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    body = staff.get("/integrations/smile/").content.decode()
    assert " JST<" in body and 'Z">' in body  # the page in Tokyo time; the machine-readable one in UTC


def test_the_page_loads_htmx_from_our_static_files_only(staff, connected):
    body = staff.get("/integrations/smile/").content.decode()
    assert '<script src="/static/django_htmx/htmx-2.min.js"' in body
    assert "<script>" not in body and " on" + "click=" not in body
    assert "https://" not in body and "http://" not in body.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_panel_promises_webhook_updates_only_to_oauth_connections(staff, merchant, connected):
    body = staff.get("/integrations/smile/").content.decode()
    assert "a Smile webhook updates a shopper within about a second" in body
    connected.auth_kind = "api_key"
    connected.save()
    for path in ("/integrations/smile/", "/"):
        body = staff.get(path).content.decode()
        panel = body[body.index('id="sync-freshness"') :]
        panel = panel[: panel.index("</p>")]
        assert "webhook updates" not in panel and "within" not in panel
        assert "reaches the lists at the next sync" in panel
