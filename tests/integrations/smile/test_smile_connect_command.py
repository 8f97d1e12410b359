"""manage.py smile_connect --merchant SLUG --api-key KEY"""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_q.models import OrmQ

from integrations.smile.models import SmileConnection

pytestmark = pytest.mark.django_db


def test_it_connects_a_merchant_with_a_validated_key(
    merchant_a, smile_api, capsys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("smile_connect", "--merchant", "alpha", "--api-key", "api_cmd_key_123")
    connection = SmileConnection.objects.get(merchant=merchant_a[0])
    assert connection.auth_kind == "api_key" and connection.access_token() == "api_cmd_key_123"
    out = capsys.readouterr().out
    assert "Connected Alpha" in out and "api_cmd_key_123" not in out
    assert OrmQ.objects.count() == 1, "the first sync is queued"


def test_it_reads_the_key_from_stdin(merchant_a, smile_api, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("api_from_stdin_1\n"))
    call_command("smile_connect", "--merchant", "alpha", "--api-key", "-")
    assert SmileConnection.objects.get().access_token() == "api_from_stdin_1"


def test_it_refuses_a_key_smile_rejects(merchant_a, smile_api):
    smile_api["tiers"].respond(401, json={"error": {"message": "Invalid credentials."}})
    with pytest.raises(CommandError) as excinfo:
        call_command("smile_connect", "--merchant", "alpha", "--api-key", "api_bad_key_123")
    assert "api_bad_key_123" not in str(excinfo.value)
    assert not SmileConnection.objects.exists()


def test_it_refuses_an_unknown_merchant(db, smile_api):
    with pytest.raises(CommandError, match="No merchant"):
        call_command("smile_connect", "--merchant", "nope", "--api-key", "api_x_123456")
