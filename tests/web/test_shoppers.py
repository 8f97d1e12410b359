"""Shopper view: lists the shopper is in (with metadata), why not in the others, history."""

import re

import pytest

from loyalty_lists.lists import services

from .conftest import make_list, row_with


@pytest.fixture
def program(merchant, smile, cycle):
    gold = smile.add_tier("Gold", 500)
    silver = smile.add_tier("Silver", 100)
    ann = smile.add("Ann@Example.com", points=1200, tier=gold)
    cand = smile.add("cand@example.com", state="candidate")
    lists = {
        "members": services.list_create(
            merchant=merchant, name="Members", audience="all_members", enqueue=False
        ),
        "both": services.list_create(
            merchant=merchant, name="Members and candidates", audience="members_and_candidates", enqueue=False
        ),
        "gold": make_list(merchant, "Gold VIPs", audience="vip_tier", tier=gold),
        "silver": make_list(merchant, "Silver VIPs", audience="vip_tier", tier=silver),
    }
    assert cycle().status == "succeeded"
    return smile, lists, {"ann": ann, "cand": cand, "gold": gold, "silver": silver}


def test_the_empty_form_is_labelled(staff):
    body = staff.get("/shoppers/").content.decode()
    assert '<label for="id_email">Shopper email</label>' in body and 'type="email"' in body
    assert "Not in" not in body


def test_it_shows_every_list_the_shopper_is_in_with_metadata(staff, program):
    body = staff.get("/shoppers/", {"email": "  ANN@example.com "}).content.decode()
    assert "In 3 of 4 lists" in body
    row = row_with(body[body.index('id="member-of"') : body.index('id="not-in"')], ">Gold VIPs<")
    assert "1,200" in row and "Gold" in row and "Member" in row
    assert ">Members<" in body and ">Members and candidates<" in body
    assert "(the list&#x27;s first sync)" in row or "(the list's first sync)" in row


def test_it_explains_why_the_shopper_is_not_in_the_other_lists(staff, program):
    body = staff.get("/shoppers/", {"email": "ann@example.com"}).content.decode()
    why = row_with(body, ">Silver VIPs<")
    assert 'data-reason="other_tier"' in why and "another VIP tier" in why
    body = staff.get("/shoppers/", {"email": "cand@example.com"}).content.decode()
    why = row_with(body, ">Members<")
    assert 'data-reason="candidate"' in why and "a candidate" in why
    assert "In 1 of 4 lists" in body


def test_an_unknown_email_is_explained_too(staff, program):
    body = staff.get("/shoppers/", {"email": "nobody@example.com"}).content.decode()
    assert "nobody@example.com is in none of your lists." in body
    assert body.count('data-reason="not_in_smile"') == 4
    assert "No Smile customer has this email" in body


def test_the_history_shows_joins_leaves_and_tier_changes(staff, program, cycle):
    smile, _lists, ids = program
    smile.update(ids["ann"], tier=ids["silver"])
    cycle()
    smile.update(ids["ann"], state="disabled")
    cycle()
    body = staff.get("/shoppers/", {"email": "ann@example.com"}).content.decode()
    history = body[body.index('id="history"') :]
    assert "Tier down" in history and "Gold → Silver" in history
    assert history.count(">Left<") == 4  # left every list it was in (members, both, gold, then silver)
    assert history.count(">Joined<") == 4, "the first fill of members, both and gold; then silver"
    assert "In 0 of 4 lists" in body
    assert 'data-reason="disabled"' in body


def test_it_never_shows_another_merchants_data(staff, other_merchant, program):
    make_list(other_merchant, "Their list")
    body = staff.get("/shoppers/", {"email": "ann@example.com"}).content.decode()
    assert "Their list" not in body and "of 4 lists" in body


def test_an_invalid_email_is_an_inline_error(staff, program):
    body = staff.get("/shoppers/", {"email": "not an email"}).content.decode()
    assert 'id="id_email_error"' in body and "Not in" not in body


def test_another_tier_is_named_not_numbered_and_times_read_like_the_rest_of_the_pages(staff, program):
    body = staff.get("/shoppers/", {"email": "ann@example.com"}).content.decode()
    why = row_with(body, ">Silver VIPs<")
    assert "in another VIP tier (Gold)" in why and "(#" not in why
    assert re.search(r"Last seen in Smile: \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d \S+ · ", why), why
    assert " UTC." not in why


def test_a_tier_the_merchant_no_longer_has_is_named_from_the_customer(staff, merchant, program):
    from loyalty_lists.lists.models import VipTier

    VipTier.objects.filter(merchant=merchant, name="Gold").delete()
    why = row_with(staff.get("/shoppers/", {"email": "ann@example.com"}).content.decode(), ">Silver VIPs<")
    assert "in another VIP tier (Gold)" in why


def test_the_email_rule_is_the_apis(staff, program, monkeypatch):
    """The page asks ``membership.email_valid``, the rule the API's lookups use."""
    asked = []
    monkeypatch.setattr(
        "loyalty_lists.web.forms.email_valid", lambda email: asked.append(email) or email.endswith(".com")
    )
    assert 'id="id_email_error"' in staff.get("/shoppers/", {"email": "ann@example.org"}).content.decode()
    assert "In 3 of 4 lists" in staff.get("/shoppers/", {"email": " ANN@example.com"}).content.decode()
    assert asked == ["ann@example.org", "ANN@example.com"]


@pytest.mark.parametrize(
    "email", ["not-an-email", "ann@", "@example.com", "ann@@example.com", "a b@example.com"]
)
def test_what_the_api_rejects_the_page_rejects(staff, program, email):
    from loyalty_lists.lists.membership import email_valid

    assert not email_valid(email)
    body = staff.get("/shoppers/", {"email": email}).content.decode()
    assert 'id="id_email_error"' in body and "Enter a valid email address" in body and "Not in" not in body
