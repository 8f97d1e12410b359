"""Secrets stay secret: Smile OAuth access and refresh tokens, Smile private API keys and our own API keys
are never stored in plaintext (every table dumped as text), never logged (DEBUG logs captured through a
connect, a refresh, a sync cycle and API calls) and never shown on a page or in an API answer (except our
new API key, once, on the page its creation redirects to). Rotating FIELD_ENCRYPTION_KEYS keeps every
connection working.

End to end against a live sandbox (``e2e``): the OAuth flow runs through our views and the sandbox's
consent form, the refresh is a real ``refresh_token`` grant after the sandbox expired the access token.
"""

import io
import logging
import re

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db_connection

from integrations.smile.models import SmileConnection
from loyalty_lists.api.keys import api_key_create
from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListItem, SyncRun
from tests.integrations.smile.conftest import point_settings_at
from tests.integrations.smile.test_e2e_oauth import consent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

SMILE_PRIVATE_KEY = "api_private_key_of_merchant_bravo_0123456789"


@pytest.fixture
def sandbox(smile_sandbox_factory, settings):
    sandbox = smile_sandbox_factory(customers=120, seed=5, rate_limit=0, api_key=[SMILE_PRIVATE_KEY])
    point_settings_at(settings, sandbox)
    settings.SMILE_RATE_LIMIT_PER_SECOND = 0
    return sandbox


def dump_database() -> str:
    """Every row of every table, as text."""
    out = []
    with db_connection.cursor() as cursor:
        for table in db_connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {db_connection.ops.quote_name(table)}")  # noqa: S608 (our names)
            for row in cursor.fetchall():
                out.append(f"{table}: " + " | ".join(_text(v) for v in row))
    return "\n".join(out)


def _text(value) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")
    return str(value)


def leaked(secrets: dict[str, str], text: str) -> list[str]:
    return [name for name, secret in secrets.items() if secret and secret in text]


@pytest.fixture
def everything(transactional_db, sandbox, client, merchant_a, merchant_b, caplog):
    """Merchant A connected with OAuth (through the views), tokens refreshed once; merchant B with a
    private API key; a list and a sync cycle each; API keys used. Returns (secrets, pages seen).
    (Committed data: the full walk's chain threads refresh the expired token on their own connections.)"""
    caplog.set_level(logging.DEBUG)
    for name in ("requests_oauthlib", "oauthlib", "httpx", "httpcore", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)  # even if someone turns their levels down
    (shop_a, user_a), (shop_b, user_b) = merchant_a, merchant_b
    seen: list[str] = []
    secrets: dict[str, str] = {"smile private key": SMILE_PRIVATE_KEY, "client secret": sandbox.client_secret}

    # Connect A through our views and the sandbox's consent page.
    client.force_login(user_a)
    started = client.post("/integrations/smile/connect")
    location, _params = consent(started["Location"])
    page = client.get(f"/integrations/smile/oauth/callback?{location.query}", follow=True)
    assert "Connected to Smile." in page.content.decode()
    seen.append(page.content.decode())
    conn_a = SmileConnection.objects.get(merchant=shop_a)
    secrets["first access token"] = conn_a.access_token()
    secrets["first refresh token"] = conn_a.refresh_token()

    # B connects with a private API key through the view.
    client.force_login(user_b)
    page = client.post("/integrations/smile/api-key", {"api_key": SMILE_PRIVATE_KEY}, follow=True)
    assert "Connected to Smile with the private API key." in page.content.decode()
    seen.append(page.content.decode())

    for shop in (shop_a, shop_b):
        services.list_create(merchant=shop, name="Members", audience="all_members", enqueue=False)

    # A's access token expires: the sync cycle refreshes it (a real refresh_token grant).
    sandbox.expire_tokens()
    for shop in (shop_a, shop_b):
        run = services.sync_cycle_run(merchant_id=shop.pk, kind="full")
        assert run.status == "succeeded", run.error_message
    conn_a.refresh_from_db()
    secrets["refreshed access token"] = conn_a.access_token()
    secrets["refreshed refresh token"] = conn_a.refresh_token()
    assert secrets["refreshed access token"] != secrets["first access token"]
    assert secrets["refreshed refresh token"] != secrets["first refresh token"]

    # Our API keys: one made through the page (shown once), one by the service; both used.
    client.force_login(user_a)
    created = client.post("/api-keys/", {"name": "Workflow"}, follow=True)  # post/redirect/get
    assert created.redirect_chain == [("/api-keys/", 302)]
    _api_key, key_b = api_key_create(merchant=shop_b, name="Other workflow")
    (key_a,) = re.findall(r'id="new-key" value="([^"]+)"', created.content.decode())
    secrets["our api key A"] = key_a
    secrets["our api key B"] = key_b
    secrets["our api key A (secret part)"] = key_a.rsplit("_", 1)[1]
    secrets["our api key B (secret part)"] = key_b.rsplit("_", 1)[1]
    for key in (key_a, key_b):
        headers = {"Authorization": f"Bearer {key}"}
        lists = client.get("/api/v1/lists", headers=headers)
        assert lists.status_code == 200
        seen.append(lists.content.decode())
        list_id = lists.json()[0]["id"]
        email = ListItem.objects.filter(list_id=list_id).values_list("email", flat=True).first()
        for response in (
            client.get(f"/api/v1/lists/{list_id}/items", headers=headers),
            client.get(f"/api/v1/lists/{list_id}/members/{email}", headers=headers),
            client.post(
                "/api/v1/lookups", {"email": email}, content_type="application/json", headers=headers
            ),
            client.get("/api/v1/sync-runs", headers=headers),
        ):
            assert response.status_code == 200, response.content
            seen.append(response.content.decode())
    bad = client.get("/api/v1/lists", headers={"Authorization": f"Bearer {key_a}x"})
    assert bad.status_code == 401
    seen.append(bad.content.decode())

    # Every page a merchant sees (the key list after creation included).
    for user in (user_a, user_b):
        client.force_login(user)
        for path in ["/", "/lists/", "/runs/", "/api-keys/", "/integrations/smile/"]:
            response = client.get(path)
            assert response.status_code == 200, path
            seen.append(response.content.decode())
        run = SyncRun.objects.filter(merchant__memberships__user=user).first()
        seen.append(client.get(f"/runs/{run.pk}/").content.decode())
    assert all(len(s) > 8 for s in secrets.values())
    return secrets, seen


def test_no_secret_is_stored_in_plaintext(everything):
    secrets, _seen = everything
    dump = dump_database()
    assert "lists_listitem" in dump and "smile_smileconnection" in dump  # the dump reached the data
    assert leaked(secrets, dump) == []


def test_no_secret_is_logged(everything, caplog):
    secrets, _seen = everything
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.__dict__.get('correlation_id', '')}"
        for r in caplog.get_records("setup") + caplog.records  # the fixture ran in the setup phase
    )
    assert "Sync run" in logged and "HTTP Request" in logged  # the capture really saw DEBUG/INFO logs
    assert leaked(secrets, logged) == []


def test_no_secret_is_shown_on_a_page_or_in_an_api_answer(everything):
    secrets, seen = everything
    assert leaked(secrets, "\n".join(seen)) == []


def test_the_new_api_key_is_shown_once_and_never_again(everything, client, merchant_a):
    secrets, _seen = everything
    client.force_login(merchant_a[1])
    for path in ["/api-keys/", "/"]:
        assert secrets["our api key A"] not in client.get(path).content.decode()


def test_rotating_the_encryption_key_keeps_every_connection_working(everything, settings, sandbox):
    secrets, _seen = everything
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    before = {c.pk: (c.access_token(), c.refresh_token()) for c in SmileConnection.objects.all()}

    settings.FIELD_ENCRYPTION_KEYS = [new_key, *old_keys]
    call_command("rotate_encryption_keys", stdout=io.StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is removed afterwards

    new = Fernet(new_key.encode())
    for conn in SmileConnection.objects.all():
        assert (conn.access_token(), conn.refresh_token()) == before[conn.pk]
        assert new.decrypt(conn.access_token_encrypted.encode()).decode() == before[conn.pk][0]
    sandbox.expire_tokens()  # the OAuth connection must also refresh (and re-encrypt) under the new key
    for conn in SmileConnection.objects.all():
        run = services.sync_cycle_run(merchant_id=conn.merchant_id)
        assert run.status == "succeeded", run.error_message
        conn.refresh_from_db()
        assert conn.status == "connected"
        new.decrypt(conn.access_token_encrypted.encode())
    assert leaked(secrets, dump_database()) == []
