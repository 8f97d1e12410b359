"""schemathesis against a live server, from the API's own OpenAPI document: zero failures allowed.

The live server (pytest-django's ``live_server``) serves seeded data — a merchant with an API key, lists of
each audience (one stale), items with duplicate emails, snapshot rows, sync runs — and a second merchant's
list that the key must never see. The ``st`` CLI then generates requests (positive and negative data,
schema examples, boundary values, fuzzing) for every operation and checks: no 5xx, every status code
declared, every content type declared, every body valid against its declared schema.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loyalty_lists.api.keys import api_key_create

from .conftest import make_customer, make_item, make_list, make_run, make_tier

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "60"))


def _st() -> str:
    candidate = Path(sys.executable).with_name("st")
    found = str(candidate) if candidate.exists() else shutil.which("st")
    if found is None:
        pytest.fail("schemathesis is not installed: it belongs in the 'test' extra (pyproject.toml).")
    return found


def _seed(shop, other_shop) -> str:
    make_tier(shop, 11, "Silver")
    make_tier(shop, 12, "Gold")
    members = make_list(shop, "Members")
    everyone = make_list(shop, "Members and candidates", "members_and_candidates")
    gold = make_list(shop, "Gold", "vip_tier", tier=12)
    make_list(
        shop,
        "Old tier",
        "vip_tier",
        tier=99,
        stale_since=members.last_published_at,
        stale_reason="Tier 99 vanished.",
    )
    for n in range(30):
        make_item(members, f"shopper{n}@example.com", smile_id=500 + n, points=n * 10)
        make_item(everyone, f"shopper{n}@example.com", smile_id=500 + n, points=n * 10, snapshot=False)
    make_item(members, "twin@example.com", smile_id=901)
    make_item(members, "twin@example.com", smile_id=902)
    make_item(everyone, "cand@example.com", smile_id=903, state="candidate")
    make_item(gold, "gold@example.com", smile_id=904, tier=12, tier_name="Gold")
    make_customer(shop, "off@example.com", state="disabled")
    for n in range(5):
        make_run(shop, started_at=members.last_published_at.replace(hour=n))
    make_run(shop, status="failed", error_message="Smile answered 503.")
    make_list(other_shop, "Not yours")
    return api_key_create(merchant=shop, name="schemathesis")[1]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_failures_against_the_live_api(
    live_server, settings, merchant_a, merchant_b, tmp_path
):
    settings.API_RATE_LIMIT = "1000000/m"  # keep the run about the contract, not the limiter
    key = _seed(merchant_a[0], merchant_b[0])
    command = [
        _st(),
        "run",
        f"{live_server.url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--seed",
        os.environ.get("SCHEMATHESIS_SEED", "20250301"),
        "--request-timeout",
        "30",
        "--report-dir",
        str(tmp_path),
        "--output-sanitize",
        "true",
        "--warnings",
        "off",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "No issues found" in output or " passed" in output, output
