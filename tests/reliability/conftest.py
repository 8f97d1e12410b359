"""Failure drills on SQLite against a live sandbox (marker ``e2e``).

``drill`` is a merchant connected over OAuth to its own sandbox (150 customers, small pages so one walk
takes many pages), with four lists (all members, members and candidates, two VIP tiers) synced once
and equal to the ground truth. ``drill.cycle(at_page=K, action=...)`` runs a cycle in this process and
calls ``action`` (inject a fault, revoke the token, delete a tier…) the moment the K-th customer page has
been written to the snapshot — deterministic, no timing: the next request of the walk meets it.

The SQLite test database is a file (as for the browser tests), so the qcluster subprocess of
``test_one_cycle_at_a_time.py`` can open it.
"""

import os
import random
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations.smile.models import SmileConnection
from loyalty_lists.lists import services
from loyalty_lists.lists.models import LoyaltyList, SyncState
from loyalty_lists.lists.sync import fetch
from tests.integrations.smile.conftest import connect_with_sandbox_tokens, point_settings_at
from tests.support.ground_truth import GroundTruth

HERE = Path(__file__).resolve().parent
CUSTOMERS = 150
PAGE_LIMIT = 10  # 15 pages for a walk over everyone


def pytest_configure(config):
    """Make the SQLite test database a file other processes can open (before it is created)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3") and not database.get("TEST", {}).get("NAME"):
        path = os.environ.get("SQLITE_TEST_PATH") or str(
            Path(tempfile.gettempdir()) / f"loyalty-lists-test-{os.getpid()}.sqlite3"
        )
        database.setdefault("TEST", {})["NAME"] = path


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


class Drill:
    def __init__(self, sandbox, merchant, user):
        self.sandbox = sandbox
        self.merchant = merchant
        self.user = user
        self.random = random.Random(2026)

    def truth(self) -> GroundTruth:
        return GroundTruth.of(self.sandbox.export())

    def mismatches(self) -> dict[str, str]:
        return self.truth().mismatches(self.merchant)

    def lists(self) -> list[LoyaltyList]:
        return list(LoyaltyList.objects.filter(merchant=self.merchant).order_by("pk"))

    def change_smile(self, n: int = 15) -> None:
        """Changes a cycle would publish: points, states and tiers of ``n`` customers."""
        export = self.sandbox.export()
        tiers = [t["id"] for t in export["vip_tiers"]]
        for customer in self.random.sample(export["customers"], n):
            field = self.random.choice(["points", "state", "tier"])
            if field == "points":
                self.sandbox.patch_customer(customer["id"], points_balance=self.random.randint(0, 5000))
            elif field == "state":
                self.sandbox.patch_customer(customer["id"], state=self.random.choice(["member", "candidate"]))
            else:
                self.sandbox.patch_customer(customer["id"], vip_tier_id=self.random.choice([None, *tiers]))

    def walk_everyone_next_time(self) -> None:
        """Rewind the watermark: the next delta walks every customer (one chain, 15 pages, inline)."""
        SyncState.objects.filter(merchant=self.merchant).update(watermark=datetime(2000, 1, 1, tzinfo=UTC))

    def watermark(self):
        return SyncState.objects.get(merchant=self.merchant).watermark

    def cycle(self, kind: str = "delta", at_page: int | None = None, action=None):
        fired = []

        def progress(run, phase, detail):
            if action and not fired and phase == "fetch" and run.pages_fetched >= at_page:
                fired.append(run.pages_fetched)
                action()

        run = services.sync_cycle_run(merchant_id=self.merchant.pk, kind=kind, progress=progress)
        assert run is not None, "the lease was busy"
        if action is not None:
            assert fired, f"the walk ended before page {at_page}: the drill did not happen"
        return run

    def reconnect(self) -> None:
        connect_with_sandbox_tokens(self.merchant, self.sandbox)
        SmileConnection.objects.filter(merchant=self.merchant).update(last_error_message="")


@pytest.fixture
def drill(smile_sandbox_factory, settings, monkeypatch, merchant_factory):
    sandbox = smile_sandbox_factory(customers=CUSTOMERS, seed=21, rate_limit=0)
    point_settings_at(settings, sandbox)
    settings.SMILE_RATE_LIMIT_PER_SECOND = 0
    settings.SMILE_MAX_ATTEMPTS = 2
    monkeypatch.setattr(fetch, "PAGE_LIMIT", PAGE_LIMIT)
    monkeypatch.setattr(fetch, "BATCH_SIZE", PAGE_LIMIT)  # one flush (and checkpoint) per page
    merchant, user = merchant_factory("drill")
    connect_with_sandbox_tokens(merchant, sandbox)
    services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    services.list_create(merchant=merchant, name="Everyone", audience="members_and_candidates", enqueue=False)
    export = sandbox.export()
    by_size = sorted(
        export["vip_tiers"], key=lambda t: -sum(c["vip_tier_id"] == t["id"] for c in export["customers"])
    )
    for tier in by_size[:2]:
        LoyaltyList.objects.create(
            merchant=merchant, name=f"Tier {tier['name']}", audience="vip_tier", vip_tier_id=tier["id"]
        )
    drill = Drill(sandbox, merchant, user)
    run = drill.cycle(kind="full")
    assert run.status == "succeeded", run.error_message
    assert drill.mismatches() == {}
    assert all(lst.item_count > 0 for lst in drill.lists())
    return drill
