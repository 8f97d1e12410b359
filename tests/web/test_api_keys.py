"""The API keys page: list, create (post/redirect/get; the secret shown once, kept encrypted in between),
revoke; merchant-scoped."""

import logging
import re

import pytest
from django.contrib.sessions.models import Session

from loyalty_lists.api.keys import api_key_create
from loyalty_lists.api.models import ApiKey
from loyalty_lists.web.views.keys import NEW_KEY_SESSION_KEY
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db


def _shown_key(html: str) -> str | None:
    match = re.search(r'id="new-key" value="(sll_[a-z0-9]+_[A-Za-z0-9]+)"', html)
    return match.group(1) if match else None


def test_the_page_needs_a_signed_in_staff_member(client):
    response = client.get("/api-keys/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_without_keys_the_page_says_so_and_offers_the_form(staff):
    response = staff.get("/api-keys/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "No API keys yet" in html
    assert '<label for="id_name">Name</label>' in html and ">Create key</button>" in html


def test_creating_a_key_redirects_and_the_page_shows_its_secret_once(staff, client, merchant, caplog):
    caplog.set_level(logging.DEBUG)
    response = staff.post("/api-keys/", {"name": "Klaviyo flows"})
    assert response.status_code == 302 and response["Location"] == "/api-keys/"
    assert "sll_" not in response.content.decode()

    shown = staff.get("/api-keys/")
    assert shown["Cache-Control"].startswith("max-age=0")
    html = shown.content.decode()
    key_text = _shown_key(html)
    assert key_text and "only time it is shown" in html and 'data-copy="#new-key"' in html
    key = ApiKey.objects.get()
    assert (key.merchant, key.name, key.prefix) == (merchant, "Klaviyo flows", key_text.split("_")[1])

    secret = key_text.split("_")[2]
    again = staff.get("/api-keys/").content.decode()  # a reload: the key is not shown, nothing is created
    assert _shown_key(again) is None and secret not in again and key.secret_hash not in again
    assert "Klaviyo flows" in again and f"sll_{key.prefix}_" in again
    assert ApiKey.objects.count() == 1
    assert secret not in caplog.text
    assert Api(client, key_text).get("/api/v1/lists").status_code == 200


def test_between_the_redirect_and_the_page_the_secret_is_stored_encrypted(staff):
    staff.post("/api-keys/", {"name": "Zapier"})
    stored = staff.session[NEW_KEY_SESSION_KEY]
    assert not stored["text"].startswith("sll_")
    html = staff.get("/api-keys/").content.decode()
    secret = _shown_key(html).split("_")[2]
    assert all(
        secret not in s.session_data and secret not in str(s.get_decoded()) for s in Session.objects.all()
    )
    assert NEW_KEY_SESSION_KEY not in staff.session


def test_a_key_revoked_before_its_page_is_shown_is_not_shown(staff):
    staff.post("/api-keys/", {"name": "Zapier"})
    ApiKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert _shown_key(staff.get("/api-keys/").content.decode()) is None


def test_a_key_needs_a_name(staff):
    response = staff.post("/api-keys/", {"name": "   "})
    assert response.status_code == 422
    html = response.content.decode()
    assert "Give the key a name" in html or "This field is required" in html
    assert not ApiKey.objects.exists()


def test_the_table_lists_name_prefix_created_last_used_and_status(staff, merchant):
    key, _ = api_key_create(merchant=merchant, name="Zapier")
    html = staff.get("/api-keys/").content.decode()
    assert "Zapier" in html and key.prefix in html and "Never" in html and "Active" in html
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">', html)


def test_revoking_asks_first_then_the_key_stops_working(staff, client, merchant):
    key, text = api_key_create(merchant=merchant, name="Zapier")
    confirm = staff.get(f"/api-keys/{key.pk}/revoke/")
    assert confirm.status_code == 200
    assert "Revoke key" in confirm.content.decode()
    assert ApiKey.objects.get().revoked_at is None

    response = staff.post(f"/api-keys/{key.pk}/revoke/")
    assert response.status_code == 302
    assert ApiKey.objects.get().revoked_at is not None
    assert "Revoked" in staff.get("/api-keys/").content.decode()
    assert Api(client, text).get("/api/v1/lists").status_code == 401


def test_another_merchants_key_is_404(staff, other_merchant):
    key, _ = api_key_create(merchant=other_merchant, name="Theirs")
    assert staff.get(f"/api-keys/{key.pk}/revoke/").status_code == 404
    assert staff.post(f"/api-keys/{key.pk}/revoke/").status_code == 404
    assert ApiKey.objects.get().revoked_at is None
    assert "Theirs" not in staff.get("/api-keys/").content.decode()


def test_a_key_created_for_another_merchant_is_never_shown_from_the_session(staff, other_merchant):
    key, _ = api_key_create(merchant=other_merchant, name="Theirs")
    session = staff.session
    session[NEW_KEY_SESSION_KEY] = {"id": key.pk, "text": "not even encrypted"}
    session.save()
    html = staff.get("/api-keys/").content.decode()
    assert _shown_key(html) is None and "Theirs" not in html


def test_the_admin_shows_keys_without_their_hash(client, merchant, django_user_model):
    key, text = api_key_create(merchant=merchant, name="Zapier")
    admin = django_user_model.objects.create_superuser(email="root@example.com", password="x" * 12)
    client.force_login(admin)
    listing = client.get("/admin/api/apikey/").content.decode()
    detail = client.get(f"/admin/api/apikey/{key.pk}/change/").content.decode()
    assert "Zapier" in listing and key.prefix in listing
    for html in (listing, detail):
        assert key.secret_hash not in html and text.split("_")[2] not in html
    assert client.get("/admin/api/apikey/add/").status_code == 403
