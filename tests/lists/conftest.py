import pytest
from django.utils import timezone

from integrations.smile.capabilities import ID_RANGE
from loyalty_lists.lists import services
from loyalty_lists.lists.membership import is_member
from loyalty_lists.lists.models import ListItem, LoyaltyList

from .fakes import FakeSmile


@pytest.fixture
def smile():
    return FakeSmile()


@pytest.fixture
def merchant(merchant_factory):
    """A merchant with a Smile connection row (what capabilities are recorded on; no credentials: the
    tests pass the in-memory FakeSmile as the client). Full walks go the documented way (Smile's own
    cursors, per state) unless a test says made-up cursors are verified (``id_ranges_verified``)."""
    from integrations.smile.models import SmileConnection

    merchant, _user = merchant_factory("shop")
    SmileConnection.objects.create(
        merchant=merchant,
        auth_kind="api_key",
        status="connected",
        capabilities={
            ID_RANGE: {"verdict": "unsupported", "reason": "tests", "at": timezone.now().isoformat()}
        },
    )
    return merchant


def _now() -> str:
    return timezone.now().isoformat()


def id_ranges_verified(merchant) -> None:
    """This connection's made-up cursors were verified: full walks may run by id ranges and split."""
    from integrations.smile.models import SmileConnection

    SmileConnection.objects.filter(merchant=merchant).update(
        capabilities={ID_RANGE: {"verdict": "verified", "reason": "tests", "at": _now()}}
    )


@pytest.fixture
def run_cycle(merchant, smile):
    """Run one cycle of ``merchant`` against the fake Smile: ``run_cycle("full")``."""

    def run(kind="delta", client=None, **kwargs):
        return services.sync_cycle_run(merchant_id=merchant.pk, kind=kind, client=client or smile, **kwargs)

    return run


@pytest.fixture
def make_list(merchant):
    """A list of ``merchant``; tier lists are created directly (their tier need not be synced yet)."""

    def make(audience="all_members", tier=None, name=None):
        name = name or f"{audience} {tier or ''}".strip()
        if audience == "vip_tier":
            return LoyaltyList.objects.create(
                merchant=merchant, name=name, audience=audience, vip_tier_id=tier
            )
        return services.list_create(merchant=merchant, name=name, audience=audience, enqueue=False)

    return make


def items_of(lst) -> dict[int, ListItem]:
    return {i.smile_customer_id: i for i in ListItem.objects.filter(list=lst)}


def expected_ids(lst, smile: FakeSmile) -> set[int]:
    """Ground truth: the membership rule applied straight to the fake Smile's data."""
    return {c.id for c in smile.customers.values() if is_member(lst.audience, lst.vip_tier_id, c)}


def assert_lists_match(lists, smile: FakeSmile) -> None:
    for lst in lists:
        assert set(items_of(lst)) == expected_ids(lst, smile), lst.name
