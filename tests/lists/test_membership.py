"""The membership rules (DESIGN.md), table-driven, and the proof that the SQL form agrees."""

from datetime import UTC, datetime

import pytest

from integrations.smile.types import CustomerData
from loyalty_lists.lists.membership import describe, evaluate, is_member, membership_q
from loyalty_lists.lists.models import Audience, SmileCustomer

ALL, BOTH, TIER = Audience.ALL_MEMBERS, Audience.MEMBERS_AND_CANDIDATES, Audience.VIP_TIER
GOLD, SILVER = 7, 8
WHEN = datetime(2024, 5, 1, tzinfo=UTC)


def customer(email="ann@example.com", state="member", tier=None, cid=1):
    return CustomerData(
        id=cid,
        email=email,
        state=state,
        points_balance=0,
        vip_tier_id=tier,
        vip_tier_expires_at=None,
        created_at=WHEN,
        updated_at=WHEN,
    )


# (audience, list tier, email, state, customer tier) -> in the list?, reason code
CASES = [
    (ALL, None, "ann@example.com", "member", None, True, "member"),
    (ALL, None, "ann@example.com", "member", GOLD, True, "member"),
    (ALL, None, "ann@example.com", "candidate", None, False, "candidate"),
    (ALL, None, "ann@example.com", "disabled", None, False, "disabled"),
    (ALL, None, None, "member", None, False, "no_email"),
    (ALL, None, "", "member", None, False, "no_email"),
    (ALL, None, "   ", "member", None, False, "no_email"),
    (ALL, None, "  Ann@Example.COM ", "member", None, True, "member"),
    (BOTH, None, "ann@example.com", "member", None, True, "member"),
    (BOTH, None, "ann@example.com", "candidate", None, True, "member"),
    (BOTH, None, "ann@example.com", "disabled", GOLD, False, "disabled"),
    (BOTH, None, "", "candidate", None, False, "no_email"),
    (TIER, GOLD, "ann@example.com", "member", GOLD, True, "member"),
    (TIER, GOLD, "ann@example.com", "candidate", GOLD, True, "member"),
    (TIER, GOLD, "ann@example.com", "disabled", GOLD, False, "disabled"),
    (TIER, GOLD, "ann@example.com", "member", SILVER, False, "other_tier"),
    (TIER, GOLD, "ann@example.com", "member", None, False, "other_tier"),
    (TIER, GOLD, None, "member", GOLD, False, "no_email"),
    (TIER, GOLD, "ANN@example.com", "candidate", GOLD, True, "member"),
]


@pytest.mark.parametrize("audience, list_tier, email, state, tier, expected, code", CASES)
def test_the_rules_decide_membership_as_the_table_says(
    audience, list_tier, email, state, tier, expected, code
):
    verdict = evaluate(audience, list_tier, customer(email=email, state=state, tier=tier))
    assert (verdict.member, verdict.code) == (expected, code)
    assert is_member(audience, list_tier, customer(email=email, state=state, tier=tier)) is expected
    assert verdict.text


def test_an_unknown_audience_is_an_error_not_a_silent_no():
    with pytest.raises(ValueError):
        is_member("everyone", None, customer())
    with pytest.raises(ValueError):
        membership_q("everyone", None)


def test_a_tier_list_without_a_tier_matches_nobody_in_sql(db, merchant):
    SmileCustomer.objects.create(
        merchant=merchant,
        smile_id=1,
        email="a@example.com",
        state="member",
        vip_tier_id=None,
        smile_created_at=WHEN,
        smile_updated_at=WHEN,
        last_seen_at=WHEN,
    )
    assert not SmileCustomer.objects.filter(membership_q(TIER, None)).exists()


EMAILS = [None, "", "  ", "ann@example.com", " Bob@Example.com "]
STATES = ["member", "candidate", "disabled"]
TIERS = [None, GOLD, SILVER]
RULES = [(ALL, None), (BOTH, None), (TIER, GOLD), (TIER, SILVER)]


def test_the_sql_rule_agrees_with_the_python_rule_on_every_combination(db, merchant):
    from loyalty_lists.lists.membership import email_normalize

    combos = [(e, s, t) for e in EMAILS for s in STATES for t in TIERS]
    customers = [customer(email=e, state=s, tier=t, cid=n) for n, (e, s, t) in enumerate(combos, start=1)]
    SmileCustomer.objects.bulk_create(
        SmileCustomer(
            merchant=merchant,
            smile_id=c.id,
            email=email_normalize(c.email),
            state=c.state,
            vip_tier_id=c.vip_tier_id,
            smile_created_at=WHEN,
            smile_updated_at=WHEN,
            last_seen_at=WHEN,
        )
        for c in customers
    )
    for audience, tier in RULES:
        in_sql = set(
            SmileCustomer.objects.filter(merchant=merchant)
            .filter(membership_q(audience, tier))
            .values_list("smile_id", flat=True)
        )
        in_python = {c.id for c in customers if is_member(audience, tier, c)}
        assert in_sql == in_python, (audience, tier)
        assert in_python, "every rule admits someone in this table"


def test_the_rules_are_described_in_words_for_the_pages():
    assert "member" in describe(ALL)
    assert "candidate" in describe(BOTH)
    assert "Gold" in describe(TIER, "Gold")
