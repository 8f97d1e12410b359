"""The one place views get "the current merchant" and fetch objects scoped to it.

Another merchant's object is always a 404 (never a 403, which would leak that it exists).

    from loyalty_lists.merchants.scoping import merchant_required, get_for_merchant_or_404

    @merchant_required
    def list_detail(request, pk):
        lst = get_for_merchant_or_404(LoyaltyList, request.merchant, pk=pk)
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.db.models import Model, QuerySet
from django.http import Http404

from .models import Membership, Merchant

SESSION_KEY = "current_merchant_id"


def merchants_for_user(user) -> QuerySet:
    if not getattr(user, "is_authenticated", False):
        return Merchant.objects.none()
    return Merchant.objects.filter(memberships__user=user).order_by("name", "pk")


def resolve_current_merchant(request) -> Merchant | None:
    """The merchant the signed-in staff member is working on, or None.

    A user with several memberships picks one (stored in the session); otherwise their first.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    merchants = merchants_for_user(user)
    chosen = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if chosen is not None:
        merchant = merchants.filter(pk=chosen).first()
        if merchant is not None:
            return merchant
    return merchants.first()


def set_current_merchant(request, merchant: Merchant) -> None:
    if not Membership.objects.filter(user=request.user, merchant=merchant).exists():
        raise Http404("No such merchant.")
    request.session[SESSION_KEY] = merchant.pk


def scoped(model_or_queryset, merchant) -> QuerySet:
    """Restrict a model or queryset to one merchant's rows."""
    qs = (
        model_or_queryset
        if isinstance(model_or_queryset, QuerySet)
        else model_or_queryset._default_manager.all()
    )
    if merchant is None:
        return qs.none()
    return qs.filter(merchant=merchant)


def get_for_merchant_or_404(model_or_queryset, merchant, **lookup) -> Model:
    """Fetch one object owned by ``merchant``; anything else (missing, other tenant) is a 404."""
    qs = scoped(model_or_queryset, merchant)
    try:
        return qs.get(**lookup)
    except (qs.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404(f"No {qs.model._meta.verbose_name} matches the given query.") from exc


def merchant_required(view):
    """Login required, and the user must belong to a merchant; sets nothing new, checks
    ``request.merchant`` (set lazily by ``CurrentMerchantMiddleware``)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if request.merchant is None:
            raise Http404("You are not a member of any merchant.")
        return view(request, *args, **kwargs)

    return wrapper
