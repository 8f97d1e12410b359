"""Connection page and the hand-written OAuth flow (authorize → callback). Views stay thin."""

import logging

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from loyalty_lists.merchants.scoping import merchant_required

from . import doctor
from .errors import SmileAuthError, SmileError, SmileScopeError
from .forms import ApiKeyForm
from .oauth import OAuthStateError, authorization_begin, authorization_state_consume, code_exchange
from .selectors import connection_status
from .services import (
    connection_api_key_connect,
    connection_compatibility_record,
    connection_disconnect,
    connection_health_check,
    connection_oauth_complete,
)

logger = logging.getLogger(__name__)

DENIED_MESSAGE = "You declined access on Smile; nothing was connected."


def _page(request, *, api_key_form=None, status=200):
    context = {
        "status": connection_status(request.merchant),
        "api_key_form": api_key_form or ApiKeyForm(),
        "sync_minutes": settings.SYNC_INTERVAL_MINUTES,
    }
    return render(request, "smile/connection.html", context, status=status)


@merchant_required
@require_GET
def connection(request):
    return _page(request)


@merchant_required
@require_POST
def connect(request):
    return redirect(authorization_begin(session=request.session, merchant=request.merchant))


@merchant_required
@require_GET
def oauth_callback(request):
    try:
        verifier = authorization_state_consume(
            session=request.session, state=request.GET.get("state"), merchant=request.merchant
        )
    except OAuthStateError as exc:
        logger.warning("Rejected Smile OAuth callback for merchant %s: %s", request.merchant.pk, exc)
        return render(request, "smile/oauth_error.html", {"message": str(exc)}, status=400)

    error = request.GET.get("error")
    if error == "access_denied":
        messages.warning(request, DENIED_MESSAGE)
        return redirect("smile:connection")
    if error:
        description = request.GET.get("error_description", "")
        text = f"Smile could not connect: {error}" + (f" — {description}" if description else "")
        messages.error(request, text[:500] + " Nothing was connected.")
        return redirect("smile:connection")
    code = request.GET.get("code")
    if not code:
        return render(
            request, "smile/oauth_error.html", {"message": "Smile sent no authorization code."}, status=400
        )

    try:
        token = code_exchange(code=code, code_verifier=verifier)
        connection = connection_oauth_complete(merchant=request.merchant, user=request.user, token=token)
    except SmileError as exc:
        messages.error(request, f"Could not connect to Smile: {exc}")
        return redirect("smile:connection")
    if connection is not None and connection.last_health_check_ok is False:
        messages.warning(
            request, f"Connected, but the health check failed: {connection.last_health_check_message}"
        )
    else:
        messages.success(request, "Connected to Smile. The first sync is on its way.")
    return redirect("smile:connection")


@merchant_required
@require_POST
def api_key(request):
    form = ApiKeyForm(request.POST)
    if form.is_valid():
        try:
            connection_api_key_connect(
                merchant=request.merchant, user=request.user, api_key=form.cleaned_data["api_key"]
            )
        except SmileError as exc:
            form.add_error("api_key", _api_key_error(exc))
        else:
            messages.success(
                request, "Connected to Smile with the private API key. The first sync is on its way."
            )
            return redirect("smile:connection")
    return _page(request, api_key_form=form, status=400)


def _api_key_error(exc: SmileError) -> str:
    if isinstance(exc, SmileAuthError):
        return "Smile rejected this key. Check that you copied all of it and that it has not been revoked."
    if isinstance(exc, SmileScopeError):
        return "This key may not read customers and VIP tiers (Smile answered 403)."
    return f"Could not check the key with Smile: {exc}"


@merchant_required
@require_POST
def disconnect(request):
    connection_disconnect(merchant=request.merchant, user=request.user)
    messages.success(request, "Disconnected from Smile. The stored credentials were deleted.")
    return redirect("smile:connection")


@merchant_required
@require_POST
def check(request):
    if request.POST.get("compatibility"):
        return _compatibility(request)
    connection = connection_health_check(merchant=request.merchant)
    if connection is None:
        messages.error(request, "Not connected to Smile.")
    elif connection.last_health_check_ok:
        messages.success(request, "Smile connection works.")
    else:
        messages.error(request, f"Smile connection check failed: {connection.last_health_check_message}")
    return redirect("smile:connection")


def _compatibility(request):
    """*Check compatibility*: the doctor's probes (``doctor.py``), shown on the connection page."""
    try:
        findings = doctor.compatibility_report(merchant=request.merchant)
    except SmileError as exc:
        messages.error(request, f"Could not check Smile: {exc}")
        return redirect("smile:connection")
    connection_compatibility_record(merchant=request.merchant, findings=doctor.report_as_dicts(findings))
    failed = [f for f in findings if f.status == doctor.FAIL]
    if failed:
        messages.error(request, f"Compatibility: {len(failed)} problem(s) stop the sync; see below.")
    else:
        messages.success(request, "Compatibility checked: see below what holds and what the product does.")
    return redirect("smile:connection")
