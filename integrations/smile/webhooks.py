"""Smile webhook receiver: ``POST /integrations/smile/webhooks``.

1. Verify the signature: HMAC-SHA256 of the *raw* body, keyed with the app's client secret
   (``SMILE_WEBHOOK_SECRET``; during a secret rotation ``SMILE_CLIENT_SECRET_PREVIOUS`` is accepted too),
   sent base64- or hex-encoded (``SMILE_WEBHOOK_SIGNATURE_ENCODING``) in
   ``SMILE_WEBHOOK_SIGNATURE_HEADER``; compared in constant time. Missing or wrong → 401, nothing queued.
2. ``ping`` → 200. ``customer/updated`` → map ``account_id`` to the merchant(s) connected with that Smile
   account and queue a single-customer refresh per merchant (the webhook is only a hint: the task
   re-fetches the customer, so duplicates and out-of-order deliveries are harmless). Unknown account or
   topic → 200 and ignored (logged), so Smile does not retry or disable the endpoint.
3. Answer fast: nothing but the lookup and the queue insert happens in the request.
"""

import base64
import binascii
import hashlib
import hmac
import json
import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .selectors import connection_list_for_account

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


def _secrets() -> list[bytes]:
    values = [settings.SMILE_WEBHOOK_SECRET, settings.SMILE_CLIENT_SECRET_PREVIOUS]
    return [v.encode() for v in values if v]


def _decode_signature(value: str) -> bytes | None:
    value = value.strip()
    try:
        if settings.SMILE_WEBHOOK_SIGNATURE_ENCODING == "hex":
            return bytes.fromhex(value)
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None


def signature_valid(body: bytes, header_value: str | None) -> bool:
    """True when ``header_value`` is the HMAC of ``body`` under the current or the previous secret."""
    if not header_value:
        return False
    sent = _decode_signature(header_value)
    if sent is None:
        return False
    valid = False
    for secret in _secrets():  # check every secret: the time taken does not depend on which matched
        expected = hmac.new(secret, body, hashlib.sha256).digest()
        valid |= hmac.compare_digest(expected, sent)
    return valid


def sign(body: bytes, secret: str | None = None) -> str:
    """The signature Smile would send for ``body`` (tests, drills)."""
    digest = hmac.new((secret or settings.SMILE_WEBHOOK_SECRET).encode(), body, hashlib.sha256).digest()
    if settings.SMILE_WEBHOOK_SIGNATURE_ENCODING == "hex":
        return digest.hex()
    return base64.b64encode(digest).decode()


def _ok(**extra) -> JsonResponse:
    return JsonResponse({"ok": True, **extra})


@csrf_exempt
@require_POST
def receive(request: HttpRequest) -> JsonResponse:
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        return JsonResponse({"error": "Body too large."}, status=413)
    if not signature_valid(body, request.headers.get(settings.SMILE_WEBHOOK_SIGNATURE_HEADER)):
        logger.warning("Smile webhook rejected: missing or invalid signature")
        return JsonResponse({"error": "Invalid signature."}, status=401)
    try:
        payload = json.loads(body)
        topic = payload.get("topic")
        account_id = payload.get("account_id")
    except (ValueError, AttributeError):
        return JsonResponse({"error": "The body must be a JSON object."}, status=400)
    if topic == "ping":
        return _ok(topic="ping")
    if topic != "customer/updated":
        logger.info("Smile webhook with topic %r ignored", topic)
        return _ok(ignored=True)
    customer = (payload.get("data") or {}).get("customer") if isinstance(payload.get("data"), dict) else None
    customer_id = customer.get("id") if isinstance(customer, dict) else None
    if not isinstance(customer_id, int) or isinstance(customer_id, bool) or account_id in (None, ""):
        return JsonResponse({"error": "customer/updated needs account_id and data.customer.id."}, status=400)

    from loyalty_lists.lists.services import customer_refresh_enqueue

    merchant_ids = list(
        connection_list_for_account(account_id=account_id).values_list("merchant_id", flat=True)
    )
    if not merchant_ids:
        logger.info("Smile webhook for unknown account %s ignored", account_id)
        return _ok(ignored=True)
    for merchant_id in merchant_ids:
        customer_refresh_enqueue(merchant_id=merchant_id, smile_customer_id=customer_id)
    return _ok(queued=len(merchant_ids))
