import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from loyalty_lists.merchants.models import Membership, Merchant

pytestmark = pytest.mark.django_db


def test_running_demo_setup_twice_leaves_one_merchant_and_one_admin(capsys):
    call_command("demo_setup")
    call_command("demo_setup")
    assert Merchant.objects.filter(slug="demo").count() == 1
    assert get_user_model().objects.count() == 1
    assert Membership.objects.count() == 1
    out = capsys.readouterr().out
    assert "admin@demo.example" in out
    assert "/accounts/login/" in out


def test_demo_credentials_come_from_the_environment_and_log_in(monkeypatch, client):
    monkeypatch.setenv("DEMO_ADMIN_EMAIL", "Owner@Shop.Example")
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "a-demo-passphrase-77")
    call_command("demo_setup")
    response = client.post(
        "/accounts/login/", {"login": "owner@shop.example", "password": "a-demo-passphrase-77"}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_demo_setup_resets_a_changed_password(monkeypatch):
    call_command("demo_setup")
    user = get_user_model().objects.get()
    user.set_password("someone-changed-it-99")
    user.save()
    call_command("demo_setup")
    user.refresh_from_db()
    assert user.check_password("smile-demo-2026")
