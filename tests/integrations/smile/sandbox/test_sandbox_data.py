"""Generated data: distribution, determinism per seed, programs, --db reuse, the manage.py entry point."""

import subprocess
import sys
from collections import Counter
from datetime import datetime

import pytest
from django.core.management import load_command_class

from integrations.smile.sandbox.config import PROJECT_ROOT
from tests.support.sandbox import SandboxProcess, walk_customers

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def big():
    with SandboxProcess(customers=5000, seed=3, rate_limit=0) as sandbox:
        yield sandbox, sandbox.export()


def share(items, predicate) -> float:
    return sum(1 for i in items if predicate(i)) / len(items)


def test_state_mix(big):
    _, truth = big
    customers = truth["customers"]
    assert 0.66 <= share(customers, lambda c: c["state"] == "member") <= 0.74
    assert 0.21 <= share(customers, lambda c: c["state"] == "candidate") <= 0.29
    assert 0.03 <= share(customers, lambda c: c["state"] == "disabled") <= 0.07


def test_emails_are_messy_like_real_stores(big):
    _, truth = big
    customers = truth["customers"]
    emails = [c["email"] for c in customers]
    assert 0.01 <= share(emails, lambda e: not e) <= 0.035
    assert None in emails and "" in emails
    lowered = Counter(e.lower() for e in emails if e)
    duplicated = [c for c in customers if c["email"] and lowered[c["email"].lower()] > 1]
    assert 0.01 <= len(duplicated) / len(customers) <= 0.05
    exact = Counter(e for e in emails if e)
    assert any(exact[e] == 1 and lowered[e.lower()] > 1 for e in exact)  # duplicates differing only in case
    assert share([e for e in emails if e], lambda e: e != e.lower()) > 0.05
    assert any(c["first_name"] is None for c in customers) and any(c["last_name"] is None for c in customers)
    assert any(c["date_of_birth"] and c["date_of_birth"].startswith("1004-") for c in customers)
    assert any(c["date_of_birth"] is None for c in customers)


def test_tiers_and_calendar_expiry(big):
    _, truth = big
    customers = truth["customers"]
    members = [c for c in customers if c["state"] == "member"]
    assert 0.75 <= share(members, lambda c: c["vip_tier_id"] is not None) < 0.97
    assert any(c["vip_tier_id"] is not None for c in customers if c["state"] == "candidate")
    tiered = [c for c in customers if c["vip_tier_id"] is not None]
    assert all(c["vip_tier_expires_at"].endswith("-12-31T23:59:59.999Z") for c in tiered)
    assert len({c["vip_tier_expires_at"][:4] for c in tiered}) == 2  # this year or next
    assert all(c["vip_tier_expires_at"] is None for c in customers if c["vip_tier_id"] is None)
    assert [t["name"] for t in truth["vip_tiers"]] == ["Bronze", "Silver", "Gold", "Platinum"]
    assert {c["vip_tier_id"] for c in tiered} == {t["id"] for t in truth["vip_tiers"]}


def test_times_spread_over_years_and_ids_follow_creation(big):
    _, truth = big
    by_id = sorted(truth["customers"], key=lambda c: c["id"])
    created = [c["created_at"] for c in by_id]
    assert created == sorted(created)
    assert all(c["updated_at"] >= c["created_at"] for c in by_id)
    span = datetime.fromisoformat(created[-1]) - datetime.fromisoformat(created[0])
    assert span.days > 3 * 365
    assert 0.2 < share(by_id, lambda c: c["updated_at"] == c["created_at"]) < 0.5


def test_vip_status_is_consistent_with_the_tiers(big):
    sandbox, truth = big
    tiers = sorted(truth["vip_tiers"], key=lambda t: t["milestone"])
    nxt = {None: tiers[0]} | {
        t["id"]: (tiers[i + 1] if i + 1 < len(tiers) else None) for i, t in enumerate(tiers)
    }
    with sandbox.api_client(sandbox.issue_token()["access_token"]) as api:
        customers, _ = walk_customers(api, limit=250, include="vip_status")
    for c in customers:
        status = c["vip_status"]
        expected_next = nxt[status["vip_tier_id"]]
        assert status["next_vip_tier_id"] == (expected_next and expected_next["id"])
        if expected_next:
            assert status["delta_to_next_vip_tier"] == pytest.approx(
                max(expected_next["milestone"] - status["progress_value"], 0), abs=0.011
            )
        else:
            assert status["delta_to_next_vip_tier"] is None
        assert status["current_vip_period_end"].endswith("-12-31T23:59:59.999Z")


def test_lifetime_program_with_three_tiers(smile_sandbox_factory):
    sandbox = smile_sandbox_factory(customers=500, program="lifetime", tiers=3)
    truth = sandbox.export()
    assert [t["name"] for t in truth["vip_tiers"]] == ["Bronze", "Silver", "Gold"]
    assert any(c["vip_tier_id"] for c in truth["customers"])
    with sandbox.api_client(sandbox.issue_token()["access_token"]) as api:
        customers, _ = walk_customers(api, limit=250, include="vip_status")
    for c in customers:
        status = c["vip_status"]
        assert status["vip_tier_expires_at"] is None and status["current_vip_period_end"] is None
        assert status["delta_to_retain_vip_tier"] is None


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not(smile_sandbox_factory):
    a = smile_sandbox_factory(customers=400, seed=11).export()
    b = smile_sandbox_factory(customers=400, seed=11).export()
    c = smile_sandbox_factory(customers=400, seed=12).export()
    assert a["customers"] == b["customers"] and a["vip_tiers"] == b["vip_tiers"]
    assert a["customers"] != c["customers"]


def test_the_db_file_is_reused_only_when_the_options_match(tmp_path):
    db = tmp_path / "reuse.sqlite3"
    with SandboxProcess(customers=300, seed=5, db=db) as first:
        assert first.health()["db_reused"] is False
        created = first.create_customer(email="kept@example.com")["id"]
        truth = first.export()
    with SandboxProcess(customers=300, seed=5, db=db) as again:
        assert again.health()["db_reused"] is True
        assert again.export()["customers"] == truth["customers"]
        assert again.create_customer()["id"] > created
    with SandboxProcess(customers=300, seed=6, db=db) as other:
        assert other.health()["db_reused"] is False
        regenerated = other.export()["customers"]
        assert "kept@example.com" not in {c["email"] for c in regenerated}
        assert regenerated != truth["customers"]


def test_the_management_command_runs_the_same_server(tmp_path):
    with SandboxProcess(customers=20, via_manage=True, rate_limit=0) as sandbox:
        assert sandbox.health()["customers"] == 20
        assert any("Smile sandbox listening on http://127.0.0.1:" in line for line in sandbox.output)
    help_text = (
        load_command_class("integrations.smile", "smile_sandbox")
        .create_parser("manage.py", "smile_sandbox")
        .format_help()
    )
    for option in (
        "--port",
        "--customers",
        "--seed",
        "--program",
        "--tiers",
        "--latency-ms",
        "--rate-limit",
        "--client-id",
        "--client-secret",
        "--redirect-uri",
        "--api-key",
        "--control-token",
        "--webhook-url",
        "--webhook-header",
        "--webhook-encoding",
        "--account-id",
        "--account-name",
        "--app-name",
        "--scopes",
        "--token-ttl",
        "--db",
        "--retry-after",
        "--code-ttl",
        "--cursor-mode",
        "--no-account-id",
        "--vip-tiers-status",
        "--tier-delete-bumps-updated-at",
        "--tier-delete-webhooks",
        "--token-auth",
        "--updated-at-min",
        "--rate-limit-headers",
        "--webhook-vip-status",
        "--programs",
        "--size-distribution",
        "--change-rate",
    ):
        assert option in help_text
    assert "(default: 8001)" in help_text and "(default: 5000)" in help_text


def test_bad_options_fail_fast():
    result = subprocess.run(
        [sys.executable, "-m", "integrations.smile.sandbox", "--tiers", "5"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--tiers" in result.stderr
