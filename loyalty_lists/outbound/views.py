"""The admin pages of the outbound side: webhook endpoints (/webhooks/) and alerts (/alerts/).

A new or rotated secret is shown once, like an API key: the POST keeps it in the session, encrypted
with ``FIELD_ENCRYPTION_KEYS``, and the page it redirects to takes it out (a reload shows it no more).
"""

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.smile.crypto import DecryptionError, decrypt, encrypt
from loyalty_lists.lists.selectors import lists_for_merchant
from loyalty_lists.merchants.scoping import get_for_merchant_or_404
from loyalty_lists.web.decorators import merchant_page

from . import endpoints as services
from .alerts import alert_emails_set
from .forms import EndpointForm
from .models import Delivery, WebhookEndpoint
from .selectors import (
    alert_emails_on,
    alert_history,
    deliveries_for_endpoint,
    endpoint_get,
    endpoints_for_merchant,
)

logger = logging.getLogger(__name__)

NEW_SECRET_SESSION_KEY = "outbound_new_secret"
DELIVERIES_PER_PAGE = 25


def _secret_keep(request, endpoint, secret: str) -> None:
    request.session[NEW_SECRET_SESSION_KEY] = {"id": endpoint.pk, "text": encrypt(secret)}


def _secret_take(request, endpoint=None) -> tuple[int, str] | None:
    stored = request.session.pop(NEW_SECRET_SESSION_KEY, None)
    if not isinstance(stored, dict):
        return None
    if endpoint is not None and stored.get("id") != endpoint.pk:
        return None
    try:
        return stored.get("id"), decrypt(str(stored.get("text", "")))
    except DecryptionError:
        logger.warning("A new webhook secret could not be shown: its session copy cannot be decrypted")
        return None


def _form_errors(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@never_cache
@merchant_page
@require_http_methods(["GET", "POST"])
def endpoint_index(request):
    lists = list(lists_for_merchant(merchant=request.merchant))
    status = 200
    if request.method == "POST":
        form = EndpointForm(request.POST, lists=lists)
        if form.is_valid():
            try:
                endpoint, secret = services.endpoint_create(
                    merchant=request.merchant,
                    url=form.cleaned_data["url"],
                    description=form.cleaned_data["description"],
                    event_types=form.cleaned_data["event_types"],
                    list_ids=form.cleaned_data["list_ids"],
                    created_by=request.user,
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                _secret_keep(request, endpoint, secret)
                return redirect("outbound:endpoint_detail", pk=endpoint.pk)
        status = 422
    else:
        form = EndpointForm(lists=lists)
    context = {
        "endpoints": list(endpoints_for_merchant(merchant=request.merchant)),
        "form": form,
        "list_names": {lst.pk: lst.name for lst in lists},
    }
    return render(request, "outbound/endpoints.html", context, status=status)


@never_cache
@merchant_page
@require_http_methods(["GET", "POST"])
def endpoint_detail(request, pk):
    endpoint = endpoint_get(merchant=request.merchant, endpoint_id=pk)
    if endpoint is None:
        get_for_merchant_or_404(WebhookEndpoint, request.merchant, pk=pk)  # the 404
    lists = list(lists_for_merchant(merchant=request.merchant))
    status = 200
    initial = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "list_ids": endpoint.list_ids,
    }
    if request.method == "POST":
        form = EndpointForm(request.POST, lists=lists, initial=initial)
        if form.is_valid():
            try:
                services.endpoint_update(endpoint=endpoint, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, "Endpoint saved.")
                return redirect("outbound:endpoint_detail", pk=endpoint.pk)
        status = 422
    else:
        form = EndpointForm(lists=lists, initial=initial)
    new = _secret_take(request, endpoint) if request.method == "GET" else None
    page = Paginator(deliveries_for_endpoint(endpoint=endpoint), DELIVERIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "endpoint": endpoint,
        "form": form,
        "new_secret": new[1] if new else "",
        "page": page,
        "list_names": {lst.pk: lst.name for lst in lists},
    }
    return render(request, "outbound/endpoint_detail.html", context, status=status)


def _endpoint(request, pk) -> WebhookEndpoint:
    return get_for_merchant_or_404(WebhookEndpoint, request.merchant, pk=pk)


@merchant_page
@require_POST
def endpoint_rotate(request, pk):
    endpoint = _endpoint(request, pk)
    _secret_keep(request, endpoint, services.endpoint_secret_rotate(endpoint=endpoint))
    messages.success(request, "New signing secret created; the old one keeps signing during the overlap.")
    return redirect("outbound:endpoint_detail", pk=endpoint.pk)


@merchant_page
@require_POST
def endpoint_enable(request, pk):
    endpoint = _endpoint(request, pk)
    if not endpoint.enabled:
        services.endpoint_enable(endpoint=endpoint)
        messages.success(request, "Endpoint enabled: waiting deliveries go out in order.")
    return redirect("outbound:endpoint_detail", pk=endpoint.pk)


@merchant_page
@require_POST
def endpoint_disable(request, pk):
    endpoint = _endpoint(request, pk)
    if endpoint.enabled:
        services.endpoint_disable(endpoint=endpoint, reason="Disabled by an admin.")
        messages.success(request, "Endpoint disabled: changes wait for it until you enable it.")
    return redirect("outbound:endpoint_detail", pk=endpoint.pk)


@never_cache
@merchant_page
@require_http_methods(["GET", "POST"])
def endpoint_delete(request, pk):
    endpoint = _endpoint(request, pk)
    if request.method == "POST":
        services.endpoint_delete(endpoint=endpoint)
        messages.success(request, "Endpoint deleted.")
        return redirect("outbound:endpoints")
    return render(request, "outbound/endpoint_delete.html", {"endpoint": endpoint})


@merchant_page
@require_POST
def delivery_replay(request, pk, sequence):
    endpoint = _endpoint(request, pk)
    delivery = get_for_merchant_or_404(
        Delivery.objects.filter(endpoint=endpoint), request.merchant, sequence=sequence
    )
    services.delivery_replay(delivery=delivery)
    note = "" if endpoint.enabled else " once the endpoint is enabled"
    messages.success(request, f"Delivery #{delivery.sequence} will be sent again{note}.")
    return redirect("outbound:endpoint_detail", pk=endpoint.pk)


@merchant_page
@require_GET
def alert_index(request):
    context = {
        "alerts": alert_history(merchant=request.merchant),
        "emails_on": alert_emails_on(merchant=request.merchant, user=request.user),
    }
    return render(request, "outbound/alerts.html", context)


@merchant_page
@require_POST
def alert_emails(request):
    """Turn alert emails on or off for the signed-in user (for this merchant)."""
    on = request.POST.get("emails") == "on"
    alert_emails_set(merchant=request.merchant, user=request.user, on=on)
    if on:
        messages.success(request, "You will get alert emails again.")
    else:
        messages.success(request, "You will no longer get alert emails (the notices stay on the overview).")
    return redirect("outbound:alerts")
