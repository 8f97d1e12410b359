import hashlib
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty_lists.api import keys
from loyalty_lists.api.keys import api_key_authenticate, api_key_create, api_key_revoke, parse_key
from loyalty_lists.api.models import ApiKey

pytestmark = pytest.mark.django_db


def test_a_new_key_reads_sll_prefix_secret_and_only_the_prefix_and_a_hash_are_stored(shop):
    key, text = api_key_create(merchant=shop, name="Klaviyo")
    tag, prefix, secret = text.split("_")
    assert tag == "sll"
    assert prefix == key.prefix and len(prefix) == 12
    assert len(secret) == 40
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiKey.objects.filter(pk=key.pk).values().get())


def test_two_keys_never_share_a_prefix_or_a_secret(shop):
    texts = {api_key_create(merchant=shop, name=f"k{n}")[1] for n in range(20)}
    assert len(texts) == 20
    assert len({t.split("_")[1] for t in texts}) == 20


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "sll_",
        "sll_abc_def",
        "xyz_abcdefghijkl_" + "a" * 40,
        "sll_ABCDEFGHIJKL_" + "a" * 40,  # prefixes are lower-case
        "sll_abcdefghijkl_" + "a" * 39,
        "sll_abcdefghijkl_" + "a" * 39 + "!",
        "sll_abcdefghijkl_" + "a" * 40 + "_x",
        "sll_abcdefghijkl_" + "é" * 40,
    ],
)
def test_malformed_keys_do_not_parse(raw):
    assert parse_key(raw) is None


def test_a_valid_key_authenticates_with_its_merchant_in_one_query(shop, django_assert_num_queries):
    key, text = api_key_create(merchant=shop, name="Workflows")
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    with django_assert_num_queries(1):
        found = api_key_authenticate(text)
        assert found.merchant_id == shop.pk  # what scopes every query; the merchant row loads on demand
    assert found.merchant == shop


def test_a_real_prefix_with_a_wrong_secret_is_refused(shop):
    key, text = api_key_create(merchant=shop, name="Workflows")
    forged = f"sll_{key.prefix}_{'A' * 40}"
    assert api_key_authenticate(forged) is None
    assert api_key_authenticate(text) == key


def test_a_revoked_key_is_refused_and_the_api_answers_401(api, key_a):
    assert api.get("/api/v1/lists").status_code == 200
    api_key_revoke(key=ApiKey.objects.get())
    response = api.get("/api/v1/lists")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert api_key_authenticate(key_a) is None


def test_last_used_at_is_written_on_first_use_then_at_most_once_a_minute(shop, monkeypatch):
    key, text = api_key_create(merchant=shop, name="Workflows")
    assert key.last_used_at is None
    start = timezone.now()
    monkeypatch.setattr(keys.timezone, "now", lambda: start)
    api_key_authenticate(text)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == start

    monkeypatch.setattr(keys.timezone, "now", lambda: start + timedelta(seconds=59))
    api_key_authenticate(text)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == start

    later = start + timedelta(seconds=61)
    monkeypatch.setattr(keys.timezone, "now", lambda: later)
    api_key_authenticate(text)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == later


def test_a_warm_key_costs_no_write(shop, django_assert_num_queries):
    _, text = api_key_create(merchant=shop, name="Workflows")
    api_key_authenticate(text)  # first use: writes last_used_at
    with django_assert_num_queries(1):
        api_key_authenticate(text)


def test_a_key_sent_with_another_scheme_is_401_and_never_logged(anonymous, key_a, settings, caplog):
    settings.DEBUG = True  # ninja's own bearer auth logs the header in DEBUG; ours must not
    caplog.set_level(logging.DEBUG)
    response = anonymous.get("/api/v1/lists", headers={"Authorization": f"Token {key_a}"})
    assert response.status_code == 401
    assert key_a.split("_")[2] not in caplog.text


def test_revoking_twice_keeps_the_first_revocation_time(shop):
    key, _ = api_key_create(merchant=shop, name="Workflows")
    first = api_key_revoke(key=key).revoked_at
    assert api_key_revoke(key=ApiKey.objects.get(pk=key.pk)).revoked_at == first


def test_a_key_needs_a_name(shop):
    with pytest.raises(ValueError):
        api_key_create(merchant=shop, name="  ")
