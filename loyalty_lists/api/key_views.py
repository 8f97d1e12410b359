"""The API keys page (/api-keys/): list the merchant's keys, create one (its secret shown once), revoke."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from loyalty_lists.merchants.scoping import get_for_merchant_or_404, merchant_required

from .forms import ApiKeyForm
from .keys import api_key_create, api_key_revoke
from .models import ApiKey


def _keys(merchant):
    return ApiKey.objects.for_merchant(merchant).select_related("created_by")


@never_cache
@merchant_required
@require_http_methods(["GET", "POST"])
def key_index(request):
    new_key = None
    if request.method == "POST":
        form = ApiKeyForm(request.POST)
        if form.is_valid():
            key, new_key = api_key_create(
                merchant=request.merchant, name=form.cleaned_data["name"], created_by=request.user
            )
            form = ApiKeyForm()
    else:
        form = ApiKeyForm()
    # The full key is rendered in this one response only (never stored, never redirected with).
    status = 201 if new_key else (422 if request.method == "POST" else 200)
    context = {"keys": _keys(request.merchant), "form": form, "new_key": new_key}
    return render(request, "api/keys.html", context, status=status)


@never_cache
@merchant_required
@require_http_methods(["GET", "POST"])
def key_revoke(request, pk):
    key = get_for_merchant_or_404(ApiKey, request.merchant, pk=pk)
    if request.method == "POST":
        if not key.is_revoked:
            api_key_revoke(key=key)
            messages.success(request, f"API key “{key.name}” is revoked; calls with it now get 401.")
        return redirect("api_keys:index")
    return render(request, "api/key_revoke.html", {"key": key})
