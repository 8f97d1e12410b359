"""Writes of webhook endpoints: create, change, delete, rotate the secret, enable/disable, replay.

Secrets are Standard Webhooks secrets: ``whsec_`` + base64 of 32 random bytes. They are encrypted at rest
(``FIELD_ENCRYPTION_KEYS``, like Smile tokens) and returned once, by ``endpoint_create`` and
``endpoint_secret_rotate``; pages and API answers show only ``secret_hint`` afterwards. A rotation keeps
the previous secret for ``OUTBOUND_SECRET_OVERLAP_HOURS``: deliveries meanwhile carry a signature for
each (the spec allows several in ``webhook-signature``), so a receiver can switch without a gap.

A new endpoint starts at the end of the feed (it gets what happens from now on; the change feed API
serves what came before). Every change of the URL is checked against ``ssrf.destination_check``.
"""

import base64
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from integrations.smile.crypto import decrypt, encrypt, rotate
from loyalty_lists.lists.models import ListChange, LoyaltyList

from .feed import feed_latest
from .kick import dispatch_send
from .models import Delivery, WebhookEndpoint
from .ssrf import UnsafeDestination, destination_check

logger = logging.getLogger(__name__)

EVENT_TYPES = tuple(ListChange.Kind.values)
SECRET_PREFIX = "whsec_"


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_hint(secret: str) -> str:
    return secret[: len(SECRET_PREFIX) + 4]


def endpoint_secrets(endpoint: WebhookEndpoint, *, now=None) -> list[str]:
    """The secrets to sign with now: the current one, and the previous one during its overlap."""
    now = now or timezone.now()
    found = [decrypt(endpoint.secret_encrypted)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_encrypted and expires is not None and expires > now:
        found.append(decrypt(endpoint.previous_secret_encrypted))
    return found


def _clean(*, merchant, url=None, event_types=None, list_ids=None) -> dict:
    cleaned = {}
    if url is not None:
        url = url.strip()
        try:
            destination_check(url)
        except UnsafeDestination as exc:
            raise ValidationError({"url": str(exc)}) from None
        cleaned["url"] = url
    if event_types is not None:
        unknown = sorted(set(event_types) - set(EVENT_TYPES))
        if unknown:
            raise ValidationError({"event_types": f"Unknown event types: {', '.join(unknown)}."})
        cleaned["event_types"] = [k for k in EVENT_TYPES if k in set(event_types)]
    if list_ids is not None:
        ids = sorted(set(list_ids))
        found = set(LoyaltyList.objects.filter(merchant=merchant, pk__in=ids).values_list("pk", flat=True))
        missing = [i for i in ids if i not in found]
        if missing:
            raise ValidationError({"list_ids": f"No list with id {missing[0]}."})
        cleaned["list_ids"] = ids
    return cleaned


def endpoint_create(
    *, merchant, url: str, event_types=(), list_ids=(), description: str = "", created_by=None
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; returns ``(endpoint, secret)``. The secret is not shown again."""
    cleaned = _clean(merchant=merchant, url=url, event_types=event_types, list_ids=list_ids)
    secret = secret_new()
    endpoint = WebhookEndpoint.objects.create(
        merchant=merchant,
        description=(description or "").strip()[:200],
        secret_encrypted=encrypt(secret),
        secret_hint=secret_hint(secret),
        cursor=feed_latest(merchant.pk),
        created_by=created_by if getattr(created_by, "pk", None) else None,
        **cleaned,
    )
    logger.info("Webhook endpoint %s created for merchant %s", endpoint.pk, merchant.pk)
    return endpoint, secret


def endpoint_update(
    *, endpoint: WebhookEndpoint, url=None, event_types=None, list_ids=None, description=None, enabled=None
) -> WebhookEndpoint:
    cleaned = _clean(merchant=endpoint.merchant, url=url, event_types=event_types, list_ids=list_ids)
    for name, value in cleaned.items():
        setattr(endpoint, name, value)
    if description is not None:
        endpoint.description = description.strip()[:200]
    endpoint.save()
    if enabled is True and not endpoint.enabled:
        endpoint_enable(endpoint=endpoint)
    elif enabled is False and endpoint.enabled:
        endpoint_disable(endpoint=endpoint, reason="Disabled by an admin.")
    endpoint.refresh_from_db()
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    with transaction.atomic():
        endpoint.delete()


def endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> str:
    """A new secret (returned once); the old one keeps signing for the overlap."""
    secret = secret_new()
    now = timezone.now()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = now + timedelta(hours=settings.OUTBOUND_SECRET_OVERLAP_HOURS)
    endpoint.secret_encrypted = encrypt(secret)
    endpoint.secret_hint = secret_hint(secret)
    endpoint.save(
        update_fields=[
            "previous_secret_encrypted",
            "previous_secret_expires_at",
            "secret_encrypted",
            "secret_hint",
            "updated_at",
        ]
    )
    logger.info("Webhook endpoint %s: secret rotated (the old one signs until %s)", endpoint.pk, now)
    return secret


def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str, automatic: bool = False) -> None:
    now = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False,
        disabled_at=now,
        disabled_reason=reason[:500],
        disabled_automatically=automatic,
        updated_at=now,
    )
    log = logger.warning if automatic else logger.info
    log("Webhook endpoint %s disabled: %s", endpoint.pk, reason)


def endpoint_enable(*, endpoint: WebhookEndpoint) -> None:
    """Enable again: a delivery that gave up is retried first (nothing is skipped)."""
    now = timezone.now()
    with transaction.atomic():
        Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.FAILED).update(
            status=Delivery.Status.PENDING, attempts=0, next_attempt_at=now
        )
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            enabled=True,
            disabled_at=None,
            disabled_reason="",
            disabled_automatically=False,
            failing_since=None,
            dirty=True,
            updated_at=now,
        )
    logger.info("Webhook endpoint %s enabled", endpoint.pk)
    transaction.on_commit(dispatch_send)


def delivery_replay(*, delivery: Delivery) -> Delivery:
    """Send a delivery again (same ``webhook-id`` and body) as soon as the endpoint is free: it goes
    before the endpoint's later pending deliveries."""
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.PENDING, next_attempt_at=now, attempts=0, replay=True
    )
    WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(dirty=True)
    transaction.on_commit(dispatch_send)
    delivery.refresh_from_db()
    return delivery


def endpoint_secrets_reencrypt() -> int:
    """Re-encrypt every stored signing secret with the newest ``FIELD_ENCRYPTION_KEYS`` key (after a new
    key is put first, before the old one is dropped); returns the endpoints updated."""
    count = 0
    for pk in WebhookEndpoint.objects.values_list("pk", flat=True).order_by("pk"):
        with transaction.atomic():
            endpoint = WebhookEndpoint.objects.select_for_update().get(pk=pk)
            endpoint.secret_encrypted = rotate(endpoint.secret_encrypted)
            if endpoint.previous_secret_encrypted:
                endpoint.previous_secret_encrypted = rotate(endpoint.previous_secret_encrypted)
            endpoint.save(update_fields=["secret_encrypted", "previous_secret_encrypted", "updated_at"])
            count += 1
    return count
