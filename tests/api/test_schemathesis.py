"""schemathesis, with every check, against a live server holding real synced lists: zero findings allowed.

A merchant is connected by private API key to a real Smile sandbox (a subprocess), and real sync cycles
fill its lists: every audience, duplicate emails, candidates and disabled shoppers, a tier list gone
stale when its tier was deleted in Smile, a failed run. A second merchant's list must never show. The
``st`` CLI then generates requests for every operation from ``/api/v1/openapi.json`` — the schema's
examples, boundary values, positive data (must be accepted) and negative data (must be rejected),
fuzzing and stateful sequences — and runs all its checks: no 5xx, every status and content type
declared, every answer valid against its schema, valid data accepted, invalid data rejected, missing
auth rejected, unsupported methods answered 405, deleted lists gone.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from integrations.smile.services import connection_api_key_connect
from loyalty_lists.api.keys import api_key_create
from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListItem, LoyaltyList, SyncRun
from loyalty_lists.outbound.dispatch import dispatch_run
from loyalty_lists.outbound.endpoints import endpoint_create
from loyalty_lists.outbound.models import Delivery
from tests.support.receiver import Receiver

SMILE_KEY = "api_schemathesis_sandbox"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _st() -> str:
    candidate = Path(sys.executable).with_name("st")
    found = str(candidate) if candidate.exists() else shutil.which("st")
    if found is None:
        pytest.fail("schemathesis is not installed: it belongs in the 'test' extra (pyproject.toml).")
    return found


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture
def synced_program(smile_sandbox_factory, settings, merchant_a, merchant_b, receiver):
    """The merchant's lists as real sync cycles against the sandbox leave them, their changes delivered to
    a webhook endpoint; returns ``(API key, endpoint id, a delivery's sequence)``."""
    sandbox = smile_sandbox_factory(customers=200, seed=11, rate_limit=0, api_key=[SMILE_KEY])
    settings.SMILE_API_BASE = sandbox.api_base
    settings.SMILE_RATE_LIMIT_PER_SECOND = 0
    settings.SMILE_MAX_ATTEMPTS = 1
    shop, other = merchant_a[0], merchant_b[0]
    connection_api_key_connect(merchant=shop, user=None, api_key=SMILE_KEY)
    endpoint, _secret = endpoint_create(merchant=shop, url=receiver.url)
    tiers = sandbox.export()["vip_tiers"]
    for n in range(2):  # shoppers sharing an email
        sandbox.create_customer(email="Twin@Example.com", state="member", first_name=f"Twin {n}")
    services.list_create(merchant=shop, name="Members", audience="all_members", enqueue=False)
    services.list_create(merchant=shop, name="Everyone", audience="members_and_candidates", enqueue=False)
    for tier in tiers[:2]:
        LoyaltyList.objects.create(
            merchant=shop, name=tier["name"], audience="vip_tier", vip_tier_id=tier["id"]
        )
    assert services.sync_cycle_run(merchant_id=shop.pk, kind="full").status == "succeeded"
    sandbox.delete_tier(tiers[1]["id"])  # its list goes stale
    assert services.sync_cycle_run(merchant_id=shop.pk).status == "succeeded"
    sandbox.fault("503", count=1)
    assert services.sync_cycle_run(merchant_id=shop.pk).status == "failed"
    LoyaltyList.objects.create(merchant=other, name="Not yours", audience="all_members")
    settings.OUTBOUND_BATCH_SIZE = 50
    dispatch_run(seconds=60)

    lists = LoyaltyList.objects.filter(merchant=shop)
    assert lists.filter(stale_since__isnull=False).count() == 1
    assert ListItem.objects.filter(merchant=shop, email="twin@example.com", list__name="Members").count() == 2
    assert ListItem.objects.filter(merchant=shop, state="candidate").exists()
    assert SyncRun.objects.filter(merchant=shop, status="failed").exists()
    delivered = Delivery.objects.filter(endpoint=endpoint, status="delivered")
    assert delivered.count() > 3 and len(receiver.accepted()) == delivered.count()
    return api_key_create(merchant=shop, name="schemathesis")[1], endpoint.pk, delivered.first().sequence


def test_schemathesis_finds_nothing_with_all_checks_against_real_synced_lists(
    live_server, settings, synced_program, tmp_path
):
    settings.API_RATE_LIMIT = "1000000/m"  # keep the run about the contract, not the limiter
    key, endpoint_id, sequence = synced_program
    config = tmp_path / "schemathesis.toml"
    # The delivery log's replay needs a delivery that exists (else schemathesis only ever sees 404s).
    config.write_text(
        "[[operations]]\n"
        'include-name = "POST /api/v1/webhook-endpoints/{endpoint_id}/deliveries/{sequence}/replay"\n'
        f"parameters = {{ endpoint_id = {endpoint_id}, sequence = {sequence} }}\n"
    )
    command = [
        _st(),
        "--config-file",
        str(config),
        "run",
        f"{live_server.url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        "all",
        "--mode",
        "all",  # positive and negative data
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
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "No issues found" in output, output
