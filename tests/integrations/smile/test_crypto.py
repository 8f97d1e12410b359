"""Encryption at rest: nothing plaintext in the database, key rotation, no token in repr/admin."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db

from integrations.smile import crypto
from integrations.smile.models import SmileConnection
from integrations.smile.services import client_for_merchant

pytestmark = pytest.mark.django_db


def raw_columns(pk):
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT access_token_encrypted, refresh_token_encrypted FROM smile_smileconnection WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()


def test_encrypt_round_trips_and_is_not_plaintext():
    secret = "oa2_plaintext_token"
    encrypted = crypto.encrypt(secret)
    assert secret not in encrypted and crypto.decrypt(encrypted) == secret
    assert crypto.encrypt(secret) != encrypted  # random IV


def test_tokens_are_not_stored_in_plaintext(oauth_connection):
    access, refresh = raw_columns(oauth_connection.pk)
    assert access and refresh
    assert "oa2-access-1" not in access and "refresh-1" not in refresh
    assert oauth_connection.access_token() == "oa2-access-1"


def test_a_wrong_key_cannot_decrypt(oauth_connection, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.DecryptionError) as excinfo:
        SmileConnection.objects.get().access_token()
    assert "oa2-access-1" not in str(excinfo.value)


def test_an_undecryptable_connection_is_reported_as_not_connected(oauth_connection, settings):
    from integrations.smile.errors import SmileNotConnected

    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SmileNotConnected, match="cannot be decrypted"):
        client_for_merchant(oauth_connection.merchant)


def test_key_rotation_re_encrypts_with_the_newest_key(oauth_connection, settings, capsys):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    before = raw_columns(oauth_connection.pk)
    call_command("rotate_encryption_keys")
    assert "1 Smile connection" in capsys.readouterr().out
    after = raw_columns(oauth_connection.pk)
    assert after != before
    Fernet(new_key.encode()).decrypt(after[0].encode())  # readable with the new key alone
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key can now be dropped
    connection = SmileConnection.objects.get()
    assert connection.access_token() == "oa2-access-1" and connection.refresh_token() == "refresh-1"
    assert client_for_merchant(connection.merchant)._tokens.get_token() == "oa2-access-1"


def test_rotation_skips_disconnected_rows_and_fails_clearly_without_the_old_key(oauth_connection, settings):
    from django.core.management.base import CommandError

    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="old key"):
        call_command("rotate_encryption_keys")


def test_repr_and_str_never_show_tokens(oauth_connection):
    for text in (repr(oauth_connection), str(oauth_connection)):
        assert "oa2-access-1" not in text and "refresh-1" not in text
        assert oauth_connection.access_token_encrypted not in text


def test_the_admin_shows_no_secret(admin_client, oauth_connection):
    listing = admin_client.get("/admin/smile/smileconnection/")
    detail = admin_client.get(f"/admin/smile/smileconnection/{oauth_connection.pk}/change/")
    assert listing.status_code == 200 and detail.status_code == 200
    for response in (listing, detail):
        body = response.content.decode()
        assert "oa2-access-1" not in body and "refresh-1" not in body
        assert oauth_connection.access_token_encrypted[:20] not in body
        assert "access_token_encrypted" not in body
