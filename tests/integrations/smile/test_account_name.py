"""The Smile account's name: kept when the token response carries ``account_name`` (optional: Smile does
not document one), refreshed with the tokens, and "Smile account <id>" on pages without it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.smile.models import SmileConnection
from integrations.smile.oauth import _normalise
from integrations.smile.selectors import connection_status
from integrations.smile.services import ConnectionTokenProvider, connection_oauth_complete

from .conftest import TOKEN_URL, token_json


def test_the_token_normalisation_keeps_the_account_name_when_there_is_one():
    token = _normalise(token_json(account_id=7, account_name="  Corner Shop "))
    assert (token.account_id, token.account_name) == ("7", "Corner Shop")


@pytest.mark.parametrize("name", [None, "", 42, ["Corner Shop"], {"name": "x"}])
def test_a_missing_or_odd_account_name_normalises_to_empty(name):
    body = token_json(account_id=7) if name is None else token_json(account_id=7, account_name=name)
    assert _normalise(body).account_name == ""


def test_a_very_long_account_name_is_cut_to_the_column():
    assert len(_normalise(token_json(account_name="x" * 500)).account_name) == 200


@pytest.mark.django_db
def test_connecting_stores_the_name_and_pages_use_it(
    merchant_a, smile_api, django_capture_on_commit_callbacks
):
    merchant, user = merchant_a
    with django_capture_on_commit_callbacks(execute=False):
        connection_oauth_complete(
            merchant=merchant,
            user=user,
            token=_normalise(token_json(account_id=7, account_name="Corner Shop")),
        )
    assert SmileConnection.objects.get(merchant=merchant).account_name == "Corner Shop"
    assert connection_status(merchant).account_label == "Corner Shop"


@pytest.mark.django_db
def test_without_a_name_pages_fall_back_to_the_account_id(
    merchant_a, smile_api, django_capture_on_commit_callbacks
):
    merchant, user = merchant_a
    with django_capture_on_commit_callbacks(execute=False):
        connection_oauth_complete(merchant=merchant, user=user, token=_normalise(token_json(account_id=7)))
    status = connection_status(merchant)
    assert status.account_name == "" and status.account_label == "Smile account 7"


@pytest.mark.django_db
def test_a_refresh_that_names_the_account_renames_it_and_one_that_does_not_keeps_it(
    oauth_connection, token_endpoint
):
    def refresh_with(**extra):
        SmileConnection.objects.filter(pk=oauth_connection.pk).update(
            expires_at=timezone.now() + timedelta(seconds=30)
        )
        oauth_connection.refresh_from_db()
        token_endpoint.post(TOKEN_URL, json=token_json(**extra))
        ConnectionTokenProvider(oauth_connection).get_token()
        oauth_connection.refresh_from_db()
        return oauth_connection.account_name

    assert refresh_with(account_name="Renamed Shop") == "Renamed Shop"
    assert refresh_with() == "Renamed Shop"
