"""The sync against each way the real Smile may differ from what we assumed (the sandbox's modes, see its
README): a first sync, a delta and a full reconcile of 20,000 customers end with every list equal to the
ground truth — the quarantined record excepted and reported — and a made-up cursor that fails never turns
later deltas into full walks."""

import pytest

from integrations.smile import capabilities
from integrations.smile.selectors import connection_capability
from loyalty_lists.lists import services
from loyalty_lists.lists.models import LoyaltyList, SyncRun, SyncState
from loyalty_lists.merchants.models import Merchant
from tests.integrations.smile.conftest import connect_with_sandbox_tokens, point_settings_at
from tests.support.ground_truth import GroundTruth

pytestmark = pytest.mark.django_db(transaction=True)  # the full walk's chain threads refresh tokens
CUSTOMERS = 20_000


def stack(smile_sandbox_factory, settings, **modes):
    sandbox = smile_sandbox_factory(customers=CUSTOMERS, seed=5, rate_limit=0, **modes)
    point_settings_at(settings, sandbox)
    settings.SMILE_RATE_LIMIT_PER_SECOND = 0
    merchant = Merchant.objects.create(slug=f"m{Merchant.objects.count()}", name="Modes")
    connect_with_sandbox_tokens(merchant, sandbox)
    services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    services.list_create(merchant=merchant, name="Everyone", audience="members_and_candidates", enqueue=False)
    return sandbox, merchant


def tier_list(merchant, sandbox):
    tier = sandbox.export()["vip_tiers"][-1]
    return LoyaltyList.objects.create(
        merchant=merchant, name="Top tier", audience="vip_tier", vip_tier_id=tier["id"]
    )


def cycle(merchant, kind="delta") -> SyncRun:
    run = services.sync_cycle_run(merchant_id=merchant.pk, kind=kind)
    assert run.status == "succeeded", run.error_message
    return run


def change_some(sandbox, n=40):
    for customer in sandbox.export()["customers"][:n]:
        state = "candidate" if customer["state"] == "member" else "member"
        sandbox.patch_customer(customer["id"], state=state, points_balance=customer["points_balance"] + 3)


def three_cycles_equal_the_truth(sandbox, merchant):
    first = cycle(merchant)
    assert first.kind == "full"
    assert GroundTruth.of(sandbox.export()).mismatches(merchant) == {}
    change_some(sandbox)
    delta = cycle(merchant)
    assert delta.kind == "delta" and delta.customers_fetched < CUSTOMERS / 10
    assert GroundTruth.of(sandbox.export()).mismatches(merchant) == {}
    change_some(sandbox, 10)
    full = cycle(merchant, "full")
    assert GroundTruth.of(sandbox.export()).mismatches(merchant) == {}
    return first, delta, full


@pytest.mark.parametrize(
    "modes",
    [
        {},
        {"cursor_mode": "opaque-400"},
        {"cursor_mode": "opaque-404"},
        {"cursor_mode": "opaque-500"},
        {"cursor_mode": "opaque-wrong"},
        {"no_account_id": True},
        {"updated_at_min": "exclusive"},
        {"rate_limit_headers": True, "retry_after": 1},
        {"webhook_vip_status": False},
    ],
    ids=lambda modes: ",".join(f"{k}={v}" for k, v in modes.items()) or "default",
)
def test_a_first_sync_a_delta_and_a_full_reconcile_equal_the_truth(smile_sandbox_factory, settings, modes):
    sandbox, merchant = stack(smile_sandbox_factory, settings, **modes)
    tier_list(merchant, sandbox)
    first, _delta, full = three_cycles_equal_the_truth(sandbox, merchant)
    verdict = connection_capability(merchant=merchant, name=capabilities.ID_RANGE)["verdict"]
    if modes.get("cursor_mode", "keyset") == "keyset":
        assert verdict == "verified"
    else:
        assert verdict == "unsupported", "a made-up cursor was refused or misread: documented walks"
        assert not SyncRun.objects.filter(merchant=merchant, status="failed").exists()
    print(
        f"{modes or 'default'}: first sync {first.pages_fetched} pages, reconcile {full.pages_fetched} pages"
    )


@pytest.mark.parametrize("status", [403, 404])
def test_a_program_without_vip_tiers_syncs_its_member_lists(smile_sandbox_factory, settings, status):
    sandbox, merchant = stack(smile_sandbox_factory, settings, vip_tiers_status=status)
    top = LoyaltyList.objects.create(merchant=merchant, name="Gold", audience="vip_tier", vip_tier_id=4242)
    three_cycles_equal_the_truth(sandbox, merchant)
    top.refresh_from_db()
    assert top.is_stale and f"HTTP {status}" in top.stale_reason and "VIP tiers" in top.stale_reason
    assert connection_capability(merchant=merchant, name=capabilities.VIP_TIERS)["verdict"] == "unavailable"


def test_a_malformed_customer_is_quarantined_and_keeps_its_items(smile_sandbox_factory, settings):
    sandbox, merchant = stack(smile_sandbox_factory, settings)
    cycle(merchant)
    member = next(c for c in sandbox.export()["customers"] if c["state"] == "member" and c["email"])
    sandbox.corrupt_customer(member["id"], "points_balance", None)
    other = next(c for c in sandbox.export()["customers"] if c["state"] == "candidate" and c["email"])
    sandbox.patch_customer(other["id"], state="member")

    for kind in ("delta", "full"):
        run = cycle(merchant, kind)
        assert run.customers_quarantined == 1
        assert run.quarantined == [{"id": member["id"], "reason": run.quarantined[0]["reason"]}]
        assert "points_balance" in run.quarantined[0]["reason"]
        assert GroundTruth.of(sandbox.export()).mismatches(merchant) == {}, "everyone else is synced"
    assert run.customers_gone == 0, "a quarantined customer is not taken for gone"


def test_a_tier_deleted_without_bumping_updated_at_is_caught_by_the_next_cycle(
    smile_sandbox_factory, settings
):
    sandbox, merchant = stack(smile_sandbox_factory, settings, tier_delete_bumps_updated_at=False)
    top = tier_list(merchant, sandbox)
    cycle(merchant)
    sandbox.delete_tier(top.vip_tier_id)

    cycle(merchant)  # a delta: Smile's updated_at did not move, so it sees nobody moved
    top.refresh_from_db()
    assert top.is_stale and SyncState.objects.get(merchant=merchant).full_due
    follow = cycle(merchant)
    assert follow.kind == "full", "a vanished tier makes the next cycle walk everyone"
    assert GroundTruth.of(sandbox.export()).mismatches(merchant) == {}
    assert not SyncState.objects.get(merchant=merchant).full_due


@pytest.mark.parametrize("method", ["basic", "form"])
def test_the_token_endpoint_client_auth_is_a_setting(smile_sandbox_factory, settings, method):
    sandbox, merchant = stack(smile_sandbox_factory, settings, token_auth=method)
    settings.SMILE_TOKEN_AUTH_METHOD = method
    cycle(merchant)
    sandbox.expire_tokens()  # the next call needs the refresh grant, authenticated the way Smile wants
    change_some(sandbox, 5)
    cycle(merchant)
    assert GroundTruth.of(sandbox.export()).mismatches(merchant) == {}


def test_a_made_up_cursor_that_fails_never_turns_later_deltas_into_full_walks(
    smile_sandbox_factory, settings
):
    sandbox, merchant = stack(smile_sandbox_factory, settings)
    cycle(merchant)
    cycle(merchant, "full")  # by id ranges: made-up cursors verified
    assert connection_capability(merchant=merchant, name=capabilities.ID_RANGE)["verdict"] == "verified"
    sandbox.settings(cursor_mode="opaque-500")  # Smile stops taking them (with a 500, not a 400)

    full = cycle(merchant, "full")
    assert connection_capability(merchant=merchant, name=capabilities.ID_RANGE)["verdict"] == "unsupported"
    assert SyncState.objects.get(merchant=merchant).full_walk is None, "no checkpoint left to re-run"
    for _ in range(3):
        change_some(sandbox, 5)
        delta = cycle(merchant)
        assert delta.kind == "delta" and delta.customers_fetched < 100
    assert GroundTruth.of(sandbox.export()).mismatches(merchant) == {}
    assert full.customers_fetched >= CUSTOMERS
