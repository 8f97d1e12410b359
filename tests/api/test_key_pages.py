import logging
import re

import pytest

from loyalty_lists.api.keys import api_key_create
from loyalty_lists.api.models import ApiKey

from .conftest import Api

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, merchant_a):
    client.force_login(merchant_a[1])
    return client


def _created_key(response) -> str:
    match = re.search(r'value="(sll_[a-z0-9]+_[A-Za-z0-9]+)"', response.content.decode())
    assert match, "the new key is shown"
    return match.group(1)


def test_the_page_needs_a_signed_in_staff_member(client):
    response = client.get("/api-keys/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_without_keys_the_page_says_so_and_offers_the_form(staff):
    response = staff.get("/api-keys/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "No API keys yet" in html
    assert '<label for="id_name">Name</label>' in html


def test_creating_a_key_shows_its_secret_once(staff, client, shop, caplog):
    caplog.set_level(logging.DEBUG)
    response = staff.post("/api-keys/", {"name": "Klaviyo flows"})
    assert response.status_code == 201
    assert response["Cache-Control"].startswith("max-age=0")
    key_text = _created_key(response)
    assert "only time it is shown" in response.content.decode()
    key = ApiKey.objects.get()
    assert (key.merchant, key.name, key.prefix) == (shop, "Klaviyo flows", key_text.split("_")[1])

    secret = key_text.split("_")[2]
    again = staff.get("/api-keys/").content.decode()
    assert secret not in again and key.secret_hash not in again
    assert "Klaviyo flows" in again and f"sll_{key.prefix}_" in again
    assert secret not in caplog.text
    assert Api(client, key_text).get("/api/v1/lists").status_code == 200


def test_a_key_needs_a_name(staff):
    response = staff.post("/api-keys/", {"name": "   "})
    assert response.status_code == 422
    assert (
        "Give the key a name" in response.content.decode()
        or "This field is required" in response.content.decode()
    )
    assert not ApiKey.objects.exists()


def test_the_table_lists_name_prefix_created_last_used_and_status(staff, shop):
    key, _ = api_key_create(merchant=shop, name="Zapier")
    html = staff.get("/api-keys/").content.decode()
    assert "Zapier" in html and key.prefix in html and "Never" in html and "Active" in html


def test_revoking_asks_first_then_the_key_stops_working(staff, client, shop):
    key, text = api_key_create(merchant=shop, name="Zapier")
    confirm = staff.get(f"/api-keys/{key.pk}/revoke/")
    assert confirm.status_code == 200
    assert "Revoke key" in confirm.content.decode()
    assert ApiKey.objects.get().revoked_at is None

    response = staff.post(f"/api-keys/{key.pk}/revoke/")
    assert response.status_code == 302
    assert ApiKey.objects.get().revoked_at is not None
    assert "Revoked" in staff.get("/api-keys/").content.decode()
    assert Api(client, text).get("/api/v1/lists").status_code == 401


def test_another_merchants_key_is_404(staff, other_shop):
    key, _ = api_key_create(merchant=other_shop, name="Theirs")
    assert staff.get(f"/api-keys/{key.pk}/revoke/").status_code == 404
    assert staff.post(f"/api-keys/{key.pk}/revoke/").status_code == 404
    assert ApiKey.objects.get().revoked_at is None
    assert "Theirs" not in staff.get("/api-keys/").content.decode()


def test_the_admin_shows_keys_without_their_hash(client, shop, django_user_model):
    key, text = api_key_create(merchant=shop, name="Zapier")
    admin = django_user_model.objects.create_superuser(email="root@example.com", password="x" * 12)
    client.force_login(admin)
    listing = client.get("/admin/api/apikey/").content.decode()
    detail = client.get(f"/admin/api/apikey/{key.pk}/change/").content.decode()
    assert "Zapier" in listing and key.prefix in listing
    for html in (listing, detail):
        assert key.secret_hash not in html and text.split("_")[2] not in html
    assert client.get("/admin/api/apikey/add/").status_code == 403
