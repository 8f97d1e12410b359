import pytest

from loyalty_lists.lists import services
from loyalty_lists.lists.membership import is_member
from loyalty_lists.lists.models import ListItem, LoyaltyList

from .fakes import FakeSmile


@pytest.fixture
def smile():
    return FakeSmile()


@pytest.fixture
def merchant(merchant_factory):
    merchant, _user = merchant_factory("shop")
    return merchant


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
