"""POST /integrations/smile/connect: redirect to Smile's authorize URL with state + PKCE."""

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.smile.oauth import STATE_SESSION_KEY

pytestmark = pytest.mark.django_db


def start(client):
    response = client.post("/integrations/smile/connect")
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    return url, {k: v[0] for k, v in parse_qs(url.query).items()}


def test_it_redirects_to_smiles_authorize_url(staff_client, smile_settings):
    url, params = start(staff_client)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://smile.test/oauth2/authorize"
    assert params["client_id"] == "client-123"
    assert params["response_type"] == "code"
    assert params["redirect_uri"] == "https://lists.test/integrations/smile/oauth/callback"
    assert params["scope"] == "customer:read vip_tier:read"  # space-separated
    assert params["code_challenge_method"] == "S256"
    assert len(params["state"]) >= 32


def test_it_stores_a_state_bound_to_the_session_and_merchant(staff_client, smile_settings, merchant_a):
    _, params = start(staff_client)
    pending = staff_client.session[STATE_SESSION_KEY]
    entry = pending[params["state"]]
    assert entry["merchant_id"] == merchant_a[0].pk
    challenge = base64.urlsafe_b64encode(hashlib.sha256(entry["verifier"].encode()).digest()).rstrip(b"=")
    assert params["code_challenge"] == challenge.decode()


def test_each_attempt_gets_a_fresh_state(staff_client, smile_settings):
    states = {start(staff_client)[1]["state"] for _ in range(3)}
    assert len(states) == 3
    assert set(staff_client.session[STATE_SESSION_KEY]) == states


def test_it_only_accepts_post(staff_client, smile_settings):
    assert staff_client.get("/integrations/smile/connect").status_code == 405


def test_anonymous_users_are_sent_to_login(client, smile_settings):
    response = client.post("/integrations/smile/connect")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_user_without_a_merchant_gets_a_404(client, django_user_model, smile_settings):
    client.force_login(django_user_model.objects.create_user(email="nobody@example.com", password="x"))
    assert client.post("/integrations/smile/connect").status_code == 404
