"""Smile webhook receiver: ``POST /integrations/smile/webhooks``.

1. Bound the body: a declared or actual body over ``MAX_BODY_BYTES`` is a JSON 413, read no further.
2. Verify the signature: HMAC-SHA256 of the *raw* body, keyed with the app's client secret
   (``SMILE_WEBHOOK_SECRET``; during a secret rotation ``SMILE_CLIENT_SECRET_PREVIOUS`` is accepted too),
   sent base64- or hex-encoded (``SMILE_WEBHOOK_SIGNATURE_ENCODING``) in
   ``SMILE_WEBHOOK_SIGNATURE_HEADER``; compared in constant time. Missing or wrong → 401, nothing queued.
3. Parse strictly (orjson: nesting deeper than 1,024 levels is an error, not a crash): not a JSON
   object, a customer id that is not a positive 64-bit integer, or a missing ``account_id`` → 400.
4. ``ping`` → 200. ``customer/updated`` → map ``account_id`` to the merchant(s) connected with that Smile
   account and announce ``signals.customer_updated`` per merchant (the lists domain queues or coalesces
   a refresh, or recognises a duplicate: the webhook is only a hint, the refresh re-fetches the
   customer). Unknown account or topic → 200 and ignored (logged), so Smile does not retry or disable
   the endpoint.
5. Answer fast: nothing but the lookup and a queue insert happens in the request.
"""

import base64
import binascii
import hashlib
import hmac
import logging
import time

import orjson
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from loyalty_lists import metrics

from . import doctor, routing, signals
from .errors import SmileBadResponse
from .parsing import parse_datetime
from .selectors import connection_list_for_account

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_SMILE_ID = 2**63 - 1  # ids are stored as 64-bit integers


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


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _read_body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is (or says it is) larger than ``MAX_BODY_BYTES``."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return None
    body = request.read(MAX_BODY_BYTES + 1)
    return None if len(body) > MAX_BODY_BYTES else body


_last_seen_note = 0.0


def _seen(account_id, topic) -> None:
    """Note a verified webhook for the doctor (pings always; others at most once a minute a process)."""
    global _last_seen_note
    now = time.monotonic()
    if topic == "ping" or now - _last_seen_note > 60:
        _last_seen_note = now
        doctor.webhook_seen(account_id=account_id, topic=str(topic))


def _updated_at(customer: dict):
    try:
        return parse_datetime(customer.get("updated_at"), "updated_at", nullable=True)
    except SmileBadResponse:
        return None


@metrics.webhook_counted
@csrf_exempt
@require_POST
def receive(request: HttpRequest) -> JsonResponse:
    body = _read_body(request)
    if body is None:
        return _error("Body too large.", 413)
    header = request.headers.get(settings.SMILE_WEBHOOK_SIGNATURE_HEADER)
    if not signature_valid(body, header):
        logger.warning("Smile webhook rejected: missing or invalid signature")
        doctor.webhook_rejected(reason="signature", header_present=bool(header))
        return _error("Invalid signature.", 401)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _error("The body must be a JSON object.", 400)
    if not isinstance(payload, dict):
        return _error("The body must be a JSON object.", 400)
    topic = payload.get("topic")
    account_id = payload.get("account_id")
    _seen(account_id, topic)
    if topic == "ping":
        return _ok(topic="ping")
    if topic != "customer/updated":
        logger.info("Smile webhook with topic %r ignored", topic)
        return _ok(ignored=True)
    data = payload.get("data")
    customer = data.get("customer") if isinstance(data, dict) else None
    customer_id = customer.get("id") if isinstance(customer, dict) else None
    if (
        not isinstance(customer_id, int)
        or isinstance(customer_id, bool)
        or not 1 <= customer_id <= MAX_SMILE_ID
    ):
        return _error("customer/updated needs data.customer.id, a positive 64-bit integer.", 400)
    if not isinstance(account_id, int | str) or isinstance(account_id, bool) or account_id == "":
        return _error("customer/updated needs account_id.", 400)
    merchant_ids = list(
        connection_list_for_account(account_id=account_id).values_list("merchant_id", flat=True)
    )
    if not merchant_ids:
        logger.info("Smile webhook for unknown account %s: unrouted (counted; binding tried)", account_id)
        routing.unrouted_record(account_id=str(account_id), customer=customer)
        return _ok(unrouted=True)
    updated_at = _updated_at(customer)
    answers: dict[str, int] = {}
    for merchant_id in merchant_ids:
        for _, answer in signals.customer_updated.send(
            sender=None, merchant_id=merchant_id, smile_customer_id=customer_id, smile_updated_at=updated_at
        ):
            if isinstance(answer, str):
                answers[answer] = answers.get(answer, 0) + 1
    return _ok(**answers)
