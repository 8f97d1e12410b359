"""POST /integrations/smile/disconnect: the credentials are deleted, the row stays as history."""

import pytest

from integrations.smile.models import SmileConnection
from integrations.smile.selectors import connection_status

pytestmark = pytest.mark.django_db


def test_it_deletes_the_tokens(staff_client, oauth_connection):
    response = staff_client.post("/integrations/smile/disconnect")
    assert response.status_code == 302
    connection = SmileConnection.objects.get(pk=oauth_connection.pk)
    assert connection.status == "disconnected"
    assert connection.access_token_encrypted == "" and connection.refresh_token_encrypted == ""
    assert connection.expires_at is None
    assert connection_status(connection.merchant).state == "not_connected"


def test_it_only_accepts_post(staff_client, oauth_connection):
    assert staff_client.get("/integrations/smile/disconnect").status_code == 405
    assert SmileConnection.objects.get().status == "connected"


def test_staff_of_another_merchant_cannot_disconnect_it(client, merchant_b, oauth_connection):
    client.force_login(merchant_b[1])
    client.post("/integrations/smile/disconnect")
    connection = SmileConnection.objects.get(pk=oauth_connection.pk)
    assert connection.status == "connected" and connection.access_token() == "oa2-access-1"


def test_disconnecting_without_a_connection_is_harmless(staff_client):
    assert staff_client.post("/integrations/smile/disconnect").status_code == 302
    assert not SmileConnection.objects.exists()
