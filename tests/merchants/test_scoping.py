import pytest
from django.http import Http404
from django.test import RequestFactory

from loyalty_lists.merchants.models import Membership, Merchant
from loyalty_lists.merchants.scoping import (
    get_for_merchant_or_404,
    merchant_required,
    resolve_current_merchant,
    scoped,
    set_current_merchant,
)

pytestmark = pytest.mark.django_db


def test_an_object_of_another_merchant_is_a_404_not_a_403(merchant_a, merchant_b):
    merchant_a_obj, _ = merchant_a
    _, user_b = merchant_b
    membership_b = Membership.objects.get(user=user_b)
    with pytest.raises(Http404):
        get_for_merchant_or_404(Membership, merchant_a_obj, pk=membership_b.pk)


def test_an_object_of_the_same_merchant_is_returned(merchant_a):
    merchant, user = merchant_a
    membership = Membership.objects.get(user=user)
    assert get_for_merchant_or_404(Membership, merchant, pk=membership.pk) == membership


def test_a_malformed_id_is_a_404_too(merchant_a):
    merchant, _ = merchant_a
    with pytest.raises(Http404):
        get_for_merchant_or_404(Membership, merchant, pk="not-a-number")


def test_scoping_with_no_merchant_returns_nothing(merchant_a):
    assert scoped(Membership, None).count() == 0
    assert Membership.objects.count() == 1


def test_the_current_merchant_is_the_users_membership(merchant_a, merchant_b, client):
    merchant, user = merchant_a
    client.force_login(user)
    response = client.get("/")
    assert response.context["current_merchant"] == merchant


def test_a_user_with_two_merchants_can_switch_but_not_to_a_stranger(merchant_a, merchant_b, rf):
    merchant, user = merchant_a
    other, _ = merchant_b
    second = Merchant.objects.create(slug="charlie", name="Charlie")
    Membership.objects.create(merchant=second, user=user)
    request = rf.get("/")
    request.user = user
    request.session = {}
    assert resolve_current_merchant(request) == merchant  # alphabetical first
    set_current_merchant(request, second)
    assert resolve_current_merchant(request) == second
    with pytest.raises(Http404):
        set_current_merchant(request, other)


def test_staff_without_a_merchant_get_a_404(django_user_model, client):
    user = django_user_model.objects.create_user(email="lonely@example.com", password="x-very-long-pass")
    client.force_login(user)
    assert client.get("/").status_code == 404


def test_merchant_required_redirects_anonymous_users_to_login():
    from django.contrib.auth.models import AnonymousUser

    view = merchant_required(lambda request: None)
    request = RequestFactory().get("/lists/")
    request.user = AnonymousUser()
    request.merchant = None
    response = view(request)
    assert response.status_code == 302
    assert "/accounts/login/?next=/lists/" in response["Location"]
