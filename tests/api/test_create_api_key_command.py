from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from loyalty_lists.api.models import ApiKey

from .conftest import Api

pytestmark = pytest.mark.django_db


def test_it_prints_the_new_key_as_its_last_line_and_the_key_works(shop, client):
    out = StringIO()
    call_command("create_api_key", "--merchant", shop.slug, "--name", "Zapier", stdout=out)
    key_text = out.getvalue().rstrip("\n").splitlines()[-1]
    assert key_text.startswith("sll_")
    key = ApiKey.objects.get()
    assert (key.merchant, key.name) == (shop, "Zapier")
    assert Api(client, key_text).get("/api/v1/lists").status_code == 200


def test_an_unknown_merchant_is_an_error(db):
    with pytest.raises(CommandError, match="No merchant"):
        call_command("create_api_key", "--merchant", "nobody", "--name", "x", stdout=StringIO())
    assert not ApiKey.objects.exists()


def test_a_blank_name_is_an_error(shop):
    with pytest.raises(CommandError):
        call_command("create_api_key", "--merchant", shop.slug, "--name", "  ", stdout=StringIO())
