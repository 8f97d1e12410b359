"""The API keys page (/api-keys/): the merchant's keys, create one (its secret shown once), revoke one.

Post/redirect/get: a created key redirects back to the page, which shows the new key once. Between the
two requests the key waits in the session, encrypted with ``FIELD_ENCRYPTION_KEYS`` (the session store is
a table like any other), and the page that shows it takes it out: a reload shows it no more and creates no
second key. (``loyalty_lists.api.keys`` makes, checks and revokes keys.)
"""

import logging

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from integrations.smile.crypto import DecryptionError, decrypt, encrypt
from loyalty_lists.api.keys import api_key_create, api_key_revoke
from loyalty_lists.api.models import ApiKey
from loyalty_lists.merchants.scoping import get_for_merchant_or_404

from ..decorators import merchant_page
from ..forms import ApiKeyForm

logger = logging.getLogger(__name__)

NEW_KEY_SESSION_KEY = "web_new_api_key"


def _keys(merchant):
    return ApiKey.objects.for_merchant(merchant).select_related("created_by").order_by("-created_at", "-pk")


def _new_key_take(request) -> tuple[ApiKey, str] | None:
    """The key created by the POST that redirected here, once (then it is gone from the session)."""
    stored = request.session.pop(NEW_KEY_SESSION_KEY, None)
    if not isinstance(stored, dict):
        return None
    key = ApiKey.objects.for_merchant(request.merchant).filter(pk=stored.get("id")).first()
    if key is None or key.is_revoked:
        return None
    try:
        return key, decrypt(str(stored.get("text", "")))
    except DecryptionError:  # the encryption keys were rotated in between
        logger.warning("The new API key %s could not be shown: its session copy cannot be decrypted", key.pk)
        return None


@never_cache
@merchant_page
@require_http_methods(["GET", "POST"])
def key_index(request):
    if request.method == "POST":
        form = ApiKeyForm(request.POST)
        if form.is_valid():
            key, text = api_key_create(
                merchant=request.merchant, name=form.cleaned_data["name"], created_by=request.user
            )
            request.session[NEW_KEY_SESSION_KEY] = {"id": key.pk, "text": encrypt(text)}
            return redirect("web:api_keys")
        status = 422
    else:
        form, status = ApiKeyForm(), 200
    new = _new_key_take(request) if request.method == "GET" else None
    context = {
        "keys": _keys(request.merchant),
        "form": form,
        "new_key": new[0] if new else None,
        "new_key_text": new[1] if new else "",
    }
    return render(request, "web/keys/index.html", context, status=status)


@never_cache
@merchant_page
@require_http_methods(["GET", "POST"])
def key_revoke(request, pk):
    key = get_for_merchant_or_404(ApiKey, request.merchant, pk=pk)
    if request.method == "POST":
        if not key.is_revoked:
            api_key_revoke(key=key)
            messages.success(request, f"API key “{key.name}” is revoked; calls with it now get 401.")
        return redirect("web:api_keys")
    return render(request, "web/keys/revoke.html", {"key": key})
