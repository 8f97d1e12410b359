"""GET /integrations/smile/oauth/callback: state checks, consent errors, code exchange, scope check."""

import base64
import logging
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import responses
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from integrations.smile.models import SmileConnection
from integrations.smile.oauth import STATE_SESSION_KEY

from .conftest import TOKEN_URL, token_json

pytestmark = pytest.mark.django_db

CALLBACK = "/integrations/smile/oauth/callback"


def begin(client):
    response = client.post("/integrations/smile/connect")
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}["state"]


def callback(client, **params):
    return client.get(f"{CALLBACK}?{urlencode(params)}")


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- state ------------------------------------------------------------------------------------------
def test_a_missing_state_is_a_400_and_no_token_call(staff_client, token_endpoint):
    begin(staff_client)
    response = callback(staff_client, code="abc")
    assert response.status_code == 400
    assert b"carried no state" in response.content
    assert len(token_endpoint.calls) == 0


def test_a_mismatched_state_is_a_400_and_no_token_call(staff_client, token_endpoint):
    begin(staff_client)
    response = callback(staff_client, code="abc", state="forged-state")
    assert response.status_code == 400
    assert len(token_endpoint.calls) == 0
    assert not SmileConnection.objects.exists()


def test_a_replayed_state_is_a_400_and_no_second_token_call(staff_client, token_endpoint, smile_api):
    token_endpoint.post(TOKEN_URL, json=token_json())
    state = begin(staff_client)
    assert callback(staff_client, code="abc", state=state).status_code == 302
    assert len(token_endpoint.calls) == 1
    response = callback(staff_client, code="abc", state=state)
    assert response.status_code == 400
    assert len(token_endpoint.calls) == 1


def test_an_expired_state_is_a_400_and_no_token_call(staff_client, token_endpoint):
    state = begin(staff_client)
    session = staff_client.session
    session[STATE_SESSION_KEY][state]["expires"] = time.time() - 1
    session.save()
    response = callback(staff_client, code="abc", state=state)
    assert response.status_code == 400
    assert b"expired" in response.content
    assert len(token_endpoint.calls) == 0


def test_a_state_from_another_session_is_a_400_and_no_token_call(
    client, merchant_a, token_endpoint, django_user_model
):
    from django.test import Client

    first = Client()
    first.force_login(merchant_a[1])
    state = begin(first)
    second = Client()  # same user, another browser session
    second.force_login(merchant_a[1])
    response = callback(second, code="abc", state=state)
    assert response.status_code == 400
    assert len(token_endpoint.calls) == 0


def test_a_state_of_another_merchants_staff_is_useless(merchant_a, merchant_b, token_endpoint):
    from django.test import Client

    alice, bob = Client(), Client()
    alice.force_login(merchant_a[1])
    bob.force_login(merchant_b[1])
    state = begin(alice)
    assert callback(bob, code="abc", state=state).status_code == 400
    assert len(token_endpoint.calls) == 0
    assert not SmileConnection.objects.exists()


def test_a_state_for_another_merchant_of_the_same_user_is_a_400(staff_client, merchant_a, token_endpoint):
    from loyalty_lists.merchants.models import Membership, Merchant

    other = Merchant.objects.create(slug="other", name="Zulu")
    Membership.objects.create(merchant=other, user=merchant_a[1])
    state = begin(staff_client)  # for merchant A (the first alphabetically)
    session = staff_client.session
    session["current_merchant_id"] = other.pk
    session.save()
    assert callback(staff_client, code="abc", state=state).status_code == 400
    assert len(token_endpoint.calls) == 0


# --- consent errors ---------------------------------------------------------------------------------
def test_it_handles_denied_consent(staff_client, token_endpoint):
    state = begin(staff_client)
    response = callback(staff_client, error="access_denied", state=state)
    assert response.status_code == 302 and response["Location"] == "/integrations/smile/"
    page = staff_client.get(response["Location"])
    assert "You declined access on Smile; nothing was connected." in messages_of(page)
    assert len(token_endpoint.calls) == 0
    assert not SmileConnection.objects.exists()


def test_it_shows_other_errors_plainly(staff_client, token_endpoint):
    state = begin(staff_client)
    response = callback(staff_client, error="invalid_scope", error_description="Unknown scope", state=state)
    page = staff_client.get(response["Location"])
    assert any("invalid_scope" in m and "Unknown scope" in m for m in messages_of(page))
    assert len(token_endpoint.calls) == 0


def test_a_denied_consent_with_a_bad_state_is_still_a_400(staff_client, token_endpoint):
    begin(staff_client)
    assert callback(staff_client, error="access_denied", state="nope").status_code == 400


def test_a_callback_without_code_is_a_400(staff_client, token_endpoint):
    state = begin(staff_client)
    assert callback(staff_client, state=state).status_code == 400
    assert len(token_endpoint.calls) == 0


# --- code exchange ------------------------------------------------------------------------------------
def test_it_exchanges_the_code_and_connects(
    staff_client, token_endpoint, smile_api, merchant_a, django_capture_on_commit_callbacks
):
    token_endpoint.post(TOKEN_URL, json=token_json(account_id=4242))
    state = begin(staff_client)
    verifier = staff_client.session[STATE_SESSION_KEY][state]["verifier"]
    with django_capture_on_commit_callbacks(execute=True):
        response = callback(staff_client, code="the-code", state=state)
    assert response.status_code == 302
    assert messages_of(staff_client.get(response["Location"])) == [
        "Connected to Smile. The first sync is on its way."
    ]

    sent = parse_qs(token_endpoint.calls[0].request.body)
    assert sent["grant_type"] == ["authorization_code"]
    assert sent["code"] == ["the-code"]
    assert sent["code_verifier"] == [verifier]
    assert sent["redirect_uri"] == ["https://lists.test/integrations/smile/oauth/callback"]

    connection = SmileConnection.objects.get(merchant=merchant_a[0])
    assert connection.status == "connected" and connection.auth_kind == "oauth"
    assert connection.access_token() == "at-new" and connection.refresh_token() == "rt-new"
    assert connection.account_id == "4242"
    assert connection.scope_list == ["customer:read", "vip_tier:read"]
    assert connection.connected_by == merchant_a[1]
    assert connection.expires_at is not None
    # the health check ran with the new token
    assert connection.last_health_check_ok is True and connection.last_health_check_at is not None
    assert smile_api["customers"].calls.last.request.headers["Authorization"] == "Bearer at-new"
    # and the first sync is queued
    [task] = [SignedPackage.loads(q.payload) for q in OrmQ.objects.all()]
    assert task["func"] == "loyalty_lists.lists.tasks.sync_cycle_task"
    assert task["args"] == (merchant_a[0].pk,)


def test_it_uses_basic_client_auth_by_default(staff_client, token_endpoint, smile_api):
    token_endpoint.post(TOKEN_URL, json=token_json())
    callback(staff_client, code="c", state=begin(staff_client))
    request = token_endpoint.calls[0].request
    expected = base64.b64encode(b"client-123:client-secret-456").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert "client_secret" not in parse_qs(request.body)


def test_it_can_send_client_credentials_as_form_fields(staff_client, token_endpoint, smile_api, settings):
    settings.SMILE_TOKEN_AUTH_METHOD = "form"
    token_endpoint.post(TOKEN_URL, json=token_json())
    callback(staff_client, code="c", state=begin(staff_client))
    request = token_endpoint.calls[0].request
    sent = parse_qs(request.body)
    assert "Authorization" not in request.headers
    assert sent["client_id"] == ["client-123"] and sent["client_secret"] == ["client-secret-456"]
    assert SmileConnection.objects.get().status == "connected"


def test_it_refuses_a_token_without_the_required_scopes(
    staff_client, token_endpoint, smile_api, django_capture_on_commit_callbacks
):
    token_endpoint.post(TOKEN_URL, json=token_json(scope="vip_tier:read"))
    with django_capture_on_commit_callbacks(execute=True):
        response = callback(staff_client, code="c", state=begin(staff_client))
    page = staff_client.get(response["Location"])
    assert any("customer:read" in m and "Nothing was connected" in m for m in messages_of(page))
    assert not SmileConnection.objects.exists()
    assert not smile_api["customers"].called
    assert OrmQ.objects.count() == 0, "no sync queued"


def test_the_required_scopes_are_a_setting(staff_client, token_endpoint, smile_api, settings):
    """Smile's scope names are not all confirmed: an operator whose Smile names them otherwise sets them."""
    settings.SMILE_OAUTH_SCOPES = ["customers:read"]
    settings.SMILE_OAUTH_REQUIRED_SCOPES = ["customers:read"]
    token_endpoint.post(TOKEN_URL, json=token_json(scope="customers:read"))
    callback(staff_client, code="c", state=begin(staff_client))
    assert SmileConnection.objects.get().status == "connected"


def test_a_token_response_without_scope_means_as_requested(staff_client, token_endpoint, smile_api):
    token_endpoint.post(TOKEN_URL, json=token_json(scope=None))
    callback(staff_client, code="c", state=begin(staff_client))
    assert SmileConnection.objects.get().scope_list == ["customer:read", "vip_tier:read"]


def test_a_refused_code_connects_nothing(staff_client, token_endpoint):
    token_endpoint.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    response = callback(staff_client, code="used", state=begin(staff_client))
    page = staff_client.get(response["Location"])
    assert any("invalid_grant" in m for m in messages_of(page))
    assert not SmileConnection.objects.exists()


def test_a_token_endpoint_outage_connects_nothing(staff_client, token_endpoint):
    token_endpoint.post(TOKEN_URL, status=503, body="<html>down</html>")
    response = callback(staff_client, code="c", state=begin(staff_client))
    page = staff_client.get(response["Location"])
    assert any("token endpoint failed" in m for m in messages_of(page))
    assert not SmileConnection.objects.exists()


def test_a_failing_health_check_is_stored_and_shown(staff_client, token_endpoint, smile_api):
    token_endpoint.post(TOKEN_URL, json=token_json())
    smile_api["customers"].respond(403, json={"error": {"message": "missing customer:read"}})
    response = callback(staff_client, code="c", state=begin(staff_client))
    page = staff_client.get(response["Location"])
    connection = SmileConnection.objects.get()
    assert connection.status == "connected"
    assert connection.last_health_check_ok is False
    assert "missing customer:read" in connection.last_health_check_message
    assert any("health check failed" in m for m in messages_of(page))


def test_a_program_without_vip_tiers_connects_and_checks_fine(staff_client, token_endpoint, smile_api):
    """VIP is a paid-plan feature: a 403 on /vip_tiers is no reason to refuse the connection."""
    token_endpoint.post(TOKEN_URL, json=token_json(scope="customer:read"))
    smile_api["tiers"].respond(403, json={"error": {"message": "VIP is not on this plan"}})
    callback(staff_client, code="c", state=begin(staff_client))
    connection = SmileConnection.objects.get()
    assert connection.status == "connected" and connection.last_health_check_ok is True


def test_reconnecting_replaces_a_connection_that_needed_it(
    staff_client, token_endpoint, smile_api, oauth_connection
):
    SmileConnection.objects.filter(pk=oauth_connection.pk).update(
        status="needs_reconnect", last_error_message="revoked"
    )
    token_endpoint.post(TOKEN_URL, json=token_json(access="at-fresh"))
    callback(staff_client, code="c", state=begin(staff_client))
    connection = SmileConnection.objects.get()
    assert connection.pk == oauth_connection.pk
    assert connection.status == "connected" and connection.access_token() == "at-fresh"
    assert connection.last_error_message == ""


def test_tokens_never_reach_the_logs(staff_client, token_endpoint, smile_api, caplog):
    caplog.set_level(logging.DEBUG)
    token_endpoint.post(TOKEN_URL, json=token_json(access="at-SECRET-1", refresh="rt-SECRET-2"))
    callback(staff_client, code="code-SECRET-3", state=begin(staff_client))
    assert SmileConnection.objects.get().status == "connected"
    text = caplog.text + " ".join(str(r.args) for r in caplog.records)
    for secret in ("at-SECRET-1", "rt-SECRET-2", "code-SECRET-3", "client-secret-456"):
        assert secret not in text


def test_responses_intercepts_only_the_token_endpoint(token_endpoint):
    assert isinstance(token_endpoint, responses.RequestsMock)
