"""One email rule: the API accepts exactly the emails its OpenAPI document allows, and each of them is one
the lists domain's ``email_valid`` (the pages' rule) accepts."""

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_lists.api.schemas import EMAIL_PATTERN, EMAIL_SCHEMA, NAME_PATTERN, clean_email, clean_name
from loyalty_lists.lists.membership import email_normalize, email_valid

from .conftest import make_item, make_list

SCHEMA = jsonschema_rs.validator_for({"type": "string", **EMAIL_SCHEMA})
emails = st.from_regex(EMAIL_PATTERN, fullmatch=True)


def _api_accepts(value: str) -> bool:
    try:
        clean_email(value)
    except ValueError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(emails)
def test_every_email_the_schema_allows_is_one_email_valid_accepts(value):
    if len(value) > EMAIL_SCHEMA["maxLength"]:
        return
    assert SCHEMA.is_valid(value)
    assert email_valid(value), value
    assert clean_email(value) == email_normalize(value)


@settings(max_examples=400, deadline=None)
@given(st.one_of(emails, st.text(max_size=40), st.from_regex(r"\A\s*[a-zA-Z.+-]{1,5}@[a-z0-9.-]{1,9}\s*\Z")))
def test_the_server_and_the_schemas_own_validator_agree_on_any_string(value):
    assert _api_accepts(value) == SCHEMA.is_valid(value), repr(value)


@pytest.mark.parametrize(
    "value",
    [
        "ann@example.com",
        "  Ann.Lee+vip@Example.CO.uk\t",
        "o'brien@shop.ie",
        "a/b@example.com",
        "jo@bücher.de",
        "x@xn--bcher-kva.xn--p1ai",
    ],
)
def test_real_addresses_are_accepted(value):
    assert _api_accepts(value) and SCHEMA.is_valid(value) and email_valid(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "not-an-email",
        "ann@",
        "@example.com",
        "ann@example",
        "ann@localhost",
        "a b@example.com",
        "ann@example.c0m",
        "ann@-example.com",
        "ann@@example.com",
        "ann@example.com\n",
        "ann\x00@example.com",
        "a" * 250 + "@example.com",
    ],
)
def test_anything_else_is_refused_by_both(value):
    assert not _api_accepts(value) and not SCHEMA.is_valid(value)


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["not-an-email", "", "ann@localhost"])
def test_a_lookup_of_something_that_is_not_an_email_is_a_422_saying_so(api, shop, value):
    make_item(make_list(shop), "ann@example.com")
    response = api.post("/api/v1/lookups", {"email": value})
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["details"][0]["field"] == "email"
    assert error["message"].startswith("email: ")


NAME = jsonschema_rs.validator_for({"type": "string", "pattern": NAME_PATTERN})


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=12), st.from_regex(NAME_PATTERN, fullmatch=True)))
def test_list_names_the_server_takes_are_the_ones_the_schema_allows(value):
    try:
        clean_name(value)
        server = True
    except ValueError:
        server = False
    assert server == NAME.is_valid(value), repr(value)
