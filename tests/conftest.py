import pytest

from loyalty_lists.merchants.models import Membership, Merchant

pytest_plugins = ["tests.fixtures.sandbox"]


@pytest.fixture
def merchant_factory(db, django_user_model):
    """Create a merchant with one admin; returns (merchant, user)."""

    def make(slug="acme", email=None, password="correct-horse-battery-staple"):
        merchant = Merchant.objects.create(slug=slug, name=slug.title())
        user = django_user_model.objects.create_user(
            email=email or f"admin@{slug}.example", password=password
        )
        Membership.objects.create(merchant=merchant, user=user, role=Membership.Role.OWNER)
        return merchant, user

    return make


@pytest.fixture
def merchant_a(merchant_factory):
    return merchant_factory("alpha")


@pytest.fixture
def merchant_b(merchant_factory):
    return merchant_factory("bravo")
