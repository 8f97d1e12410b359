import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()
    yield
    cache.clear()


def test_the_login_page_renders_inside_the_app_layout(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="login"' in body and 'type="password"' in body
    assert "Smile loyalty lists" in body
    assert "/static/css/app.css" in body
    assert "/accounts/signup/" not in body  # no invitation to a signup that is closed


def test_it_logs_in_with_email_and_password(client, merchant_a):
    merchant, user = merchant_a
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert merchant.name in home.content.decode()


def test_login_is_case_insensitive_on_the_email(client, merchant_a):
    _, user = merchant_a
    response = client.post("/accounts/login/", {"login": user.email.upper(), "password": PASSWORD})
    assert response.status_code == 302


def test_a_wrong_password_does_not_log_in(client, merchant_a):
    _, user = merchant_a
    response = client.post("/accounts/login/", {"login": user.email, "password": "nope-nope-nope"})
    assert response.status_code == 200
    assert client.get("/").status_code == 302  # still anonymous: redirected to login


def test_repeated_failures_are_rate_limited_even_with_the_right_password(client, merchant_a):
    _, user = merchant_a
    for _ in range(5):
        client.post("/accounts/login/", {"login": user.email, "password": "wrong-password-1"})
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code != 302
    assert "Too many failed login attempts" in response.content.decode()
    assert client.get("/").status_code == 302


def test_rate_limit_counters_live_in_the_shared_database_cache(client, merchant_a):
    from django.db import connection

    _, user = merchant_a
    client.post("/accounts/login/", {"login": user.email, "password": "wrong-password-1"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM django_cache")
        (rows,) = cursor.fetchone()
    assert rows >= 1


def test_signup_is_closed(client):
    page = client.get("/accounts/signup/")
    assert "Sign Up Closed" in page.content.decode()
    client.post(
        "/accounts/signup/",
        {"email": "intruder@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert not get_user_model().objects.filter(email="intruder@example.com").exists()


def test_the_django_admin_login_goes_through_allauth(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_staff_can_reach_the_admin_after_logging_in_through_allauth(client, django_user_model):
    django_user_model.objects.create_superuser(email="ops@example.com", password=PASSWORD)
    client.post("/accounts/login/", {"login": "ops@example.com", "password": PASSWORD})
    assert client.get("/admin/").status_code == 200


def test_logout_ends_the_session(client, merchant_a):
    _, user = merchant_a
    client.force_login(user)
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


def test_password_change_works(client, merchant_a):
    _, user = merchant_a
    client.force_login(user)
    response = client.post(
        "/accounts/password/change/",
        {
            "oldpassword": PASSWORD,
            "password1": "a-brand-new-passphrase-42",
            "password2": "a-brand-new-passphrase-42",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-brand-new-passphrase-42")


def test_mfa_totp_and_recovery_codes_are_offered_from_the_account_pages(client, merchant_a):
    _, user = merchant_a
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})  # a fresh login, no reauth
    page = client.get("/accounts/2fa/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "/accounts/2fa/totp/activate/" in body
    # Activating an authenticator asks for the password again first (allauth's reauthentication).
    gate = client.get("/accounts/2fa/totp/activate/")
    assert gate.status_code == 302 and gate["Location"].startswith("/accounts/reauthenticate/")
    client.post(gate["Location"], {"password": PASSWORD})
    activate = client.get("/accounts/2fa/totp/activate/")
    assert activate.status_code == 200
    assert 'name="code"' in activate.content.decode()  # the TOTP confirmation field
    assert "/accounts/2fa/recovery-codes/" in page.content.decode() or "recovery" in body.lower()


def test_pages_require_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
