"""GET /integrations/smile/: the connection page, and the connection_status selector."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.smile.models import SmileConnection
from integrations.smile.selectors import connection_status

pytestmark = pytest.mark.django_db


def test_the_url_is_named_smile_connection():
    assert reverse("smile:connection") == "/integrations/smile/"


def test_it_shows_not_connected_with_connect_and_api_key_form(staff_client, smile_settings):
    response = staff_client.get("/integrations/smile/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Not connected" in body
    assert "Connect with Smile" in body and 'action="/integrations/smile/connect"' in body
    assert '<label for="id_api_key">Private API key</label>' in body
    assert "Disconnect" not in body and "Check connection" not in body


def test_it_shows_a_connected_oauth_connection(staff_client, oauth_connection):
    SmileConnection.objects.filter(pk=oauth_connection.pk).update(
        last_health_check_at=timezone.now(),
        last_health_check_ok=True,
        last_health_check_message="Smile answered GET /v1/vip_tiers.",
    )
    body = staff_client.get("/integrations/smile/").content.decode()
    assert 'class="badge ok"' in body and "Connected" in body
    assert "OAuth app" in body and 'id="account-name">Smile account 77<' in body
    assert "customer:read" in body and "vip_tier:read" in body
    assert "Smile answered GET /v1/vip_tiers." in body
    assert "Reconnect with Smile" in body and "Disconnect" in body and "Check connection" in body
    assert "Within about a second of a change in Smile (Smile's webhooks)" in body
    assert "oa2-access-1" not in body and "refresh-1" not in body


def test_it_shows_needs_reconnect_with_the_reason(staff_client, oauth_connection):
    SmileConnection.objects.filter(pk=oauth_connection.pk).update(
        status="needs_reconnect",
        last_error_message="Token refresh failed: invalid_grant",
        last_error_at=timezone.now(),
    )
    body = staff_client.get("/integrations/smile/").content.decode()
    assert "Needs reconnect" in body and 'class="badge bad"' in body
    assert "Token refresh failed: invalid_grant" in body
    assert "Reconnect with Smile" in body


def test_connection_status_for_other_pages(merchant_a, oauth_connection):
    status = connection_status(merchant_a[0])
    assert status.state == "connected" and status.is_connected and status.label == "Connected"
    assert status.auth_kind == "oauth" and status.account_id == "77"
    assert status.scopes == ["customer:read", "vip_tier:read"]
    assert status.expires_at > timezone.now() + timedelta(minutes=30)
    assert status.connected_by == merchant_a[1].email
    assert not hasattr(status, "access_token")


def test_connection_status_without_a_connection(merchant_a):
    status = connection_status(merchant_a[0])
    assert status.state == "not_connected" and not status.is_connected and status.label == "Not connected"


def test_staff_of_another_merchant_see_only_their_own_connection(client, merchant_b, oauth_connection):
    client.force_login(merchant_b[1])
    body = client.get("/integrations/smile/").content.decode()
    assert "Not connected" in body and "<td>77</td>" not in body and "<td>OAuth app</td>" not in body


def test_the_page_leaves_room_for_the_sync_panel():
    from django.template.loader import get_template

    source = get_template("smile/connection.html").template.source
    assert "{% block sync_panel %}" in source


def test_anonymous_users_are_sent_to_login(client):
    response = client.get("/integrations/smile/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_api_key_connection_says_changes_come_with_the_next_sync(staff_client, oauth_connection, settings):
    """Smile delivers webhooks only to OAuth apps: the page must not promise seconds to API-key merchants."""
    settings.SYNC_INTERVAL_MINUTES = 15
    SmileConnection.objects.filter(pk=oauth_connection.pk).update(auth_kind="api_key", scopes="")
    body = staff_client.get("/integrations/smile/").content.decode()
    assert "Every 15 minutes. Smile sends webhooks only to OAuth apps" in body
    assert "Within about a second" not in body


def test_it_says_when_real_time_updates_are_not_routed_yet_and_how_full_syncs_run(
    staff_client, oauth_connection
):
    SmileConnection.objects.filter(pk=oauth_connection.pk).update(
        account_id="",
        capabilities={
            "id_range_cursors": {
                "verdict": "unsupported",
                "reason": "Smile did not take a made-up cursor (HTTP 400)",
            },
            "vip_tiers": {"verdict": "unavailable", "reason": "HTTP 403"},
        },
    )
    body = staff_client.get("/integrations/smile/").content.decode()
    assert "Real-time updates not yet routed" in body
    assert "Per state, with Smile&#x27;s own cursors" in body and "HTTP 400" in body
    assert "tier lists are unavailable" in body

    SmileConnection.objects.filter(pk=oauth_connection.pk).update(
        account_id="77", capabilities={"id_range_cursors": {"verdict": "verified"}}
    )
    body = staff_client.get("/integrations/smile/").content.decode()
    assert "not yet routed" not in body and "In parallel id ranges" in body
