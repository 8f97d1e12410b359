"""POST /integrations/smile/check: re-run the health check and store its result."""

import pytest

from integrations.smile.models import SmileConnection

pytestmark = pytest.mark.django_db


def test_it_stores_a_successful_check(staff_client, oauth_connection, smile_api):
    response = staff_client.post("/integrations/smile/check", follow=True)
    assert "Smile connection works." in response.content.decode()
    connection = SmileConnection.objects.get()
    assert connection.last_health_check_ok is True and connection.last_health_check_at is not None
    assert smile_api["customers"].call_count == 1  # GET /customers?limit=1: every connection may


def test_it_stores_a_failed_check_and_the_error(staff_client, oauth_connection, smile_api):
    smile_api["customers"].respond(503, json={"error": {"message": "Maintenance", "request_id": "r-1"}})
    response = staff_client.post("/integrations/smile/check", follow=True)
    body = response.content.decode()
    assert "check failed" in body and "Maintenance" in body
    connection = SmileConnection.objects.get()
    assert connection.last_health_check_ok is False
    assert "Maintenance" in connection.last_error_message and connection.last_error_at is not None
    assert connection.status == "connected"


def test_it_reports_a_missing_connection(staff_client, smile_api):
    response = staff_client.post("/integrations/smile/check", follow=True)
    assert "Not connected to Smile." in response.content.decode()
    assert not smile_api.calls


def test_staff_of_another_merchant_check_only_their_own(client, merchant_b, oauth_connection, smile_api):
    client.force_login(merchant_b[1])
    client.post("/integrations/smile/check")
    assert not smile_api.calls
    assert SmileConnection.objects.get().last_health_check_at is None
