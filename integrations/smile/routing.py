"""Webhook routing: a ``customer/updated`` webhook names its Smile account (``account_id``); the
connection of that account is the merchant it is for.

Smile's token response need not name the account (the sandbox's does; Smile documents nothing), so a
connection may not know its account id. A verified webhook of an unknown account is then *unrouted*:
counted on ``UnroutedWebhook`` (operators see it; the connection page says real-time updates are not
routed yet) and a task tries to bind it — it asks each connected OAuth connection that does not know its
account for the webhook's customer: the one whose API has that customer (same email, same
``updated_at`` when the webhook carried them) is the account's, and is bound. From then on its webhooks
are routed; the ones before were not lost for good: the next delta cycle carries their changes.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from . import signals
from .errors import SmileAuthError, SmileError
from .models import SmileConnection, UnroutedWebhook
from .parsing import parse_datetime
from .services import client_for_merchant

logger = logging.getLogger(__name__)

TASK = "integrations.smile.tasks.webhook_account_bind_task"
BIND_RETRY_AFTER = timedelta(minutes=5)  # a failed binding is tried again by the next webhook after this
CANDIDATES_MAX = 50  # connections asked for one account's customer, newest first


def unbound_connections():
    return SmileConnection.objects.filter(
        status=SmileConnection.Status.CONNECTED, auth_kind=SmileConnection.AuthKind.OAUTH, account_id=""
    )


def unrouted_record(*, account_id: str, customer: dict) -> None:
    """Count a verified webhook of an unknown account and, when a connection could be its, queue the
    binding (at most one every ``BIND_RETRY_AFTER``)."""
    now = timezone.now()
    sample = {
        "customer_id": customer["id"],
        "customer_email": str(customer.get("email") or "")[:254],
        "customer_updated_at": str(customer.get("updated_at") or "")[:40],
        "last_received_at": now,
    }
    with transaction.atomic():
        row, created = UnroutedWebhook.objects.select_for_update().get_or_create(
            account_id=account_id, defaults={**sample, "first_received_at": now, "deliveries": 1}
        )
        if not created:
            UnroutedWebhook.objects.filter(pk=row.pk).update(deliveries=F("deliveries") + 1, **sample)
        due = row.bind_requested_at is None or now - row.bind_requested_at > BIND_RETRY_AFTER
        if due and row.bound_to_id is None and unbound_connections().exists():
            UnroutedWebhook.objects.filter(pk=row.pk).update(bind_requested_at=now)
            transaction.on_commit(
                lambda: async_task(TASK, account_id, task_name=f"bind Smile account {account_id}")
            )


def account_bind(*, account_id: str, client_for=None) -> SmileConnection | None:
    """Find the connection whose API has the unrouted webhook's customer and bind the account to it."""
    client_for = client_for or client_for_merchant
    row = UnroutedWebhook.objects.filter(account_id=account_id, bound_to__isnull=True).first()
    if row is None:
        return None
    for connection in (
        unbound_connections().select_related("merchant").order_by("-connected_at")[:CANDIDATES_MAX]
    ):
        try:
            with client_for(connection.merchant, max_attempts=2) as client:
                customer = client.get_customer(row.customer_id)
        except (SmileAuthError, SmileError) as exc:
            logger.info(
                "Binding account %s: connection %s could not tell (%s)", account_id, connection.pk, exc
            )
            continue
        if customer is None or not _same(customer, row):
            continue
        bound = unbound_connections().filter(pk=connection.pk).update(account_id=account_id[:64])
        if not bound:
            continue
        UnroutedWebhook.objects.filter(pk=row.pk).update(bound_to=connection)
        logger.info(
            "Smile account %s is connection %s's (merchant %s)",
            account_id,
            connection.pk,
            connection.merchant_id,
        )
        signals.customer_updated.send(
            sender=None,
            merchant_id=connection.merchant_id,
            smile_customer_id=row.customer_id,
            smile_updated_at=None,
        )
        return connection
    logger.warning(
        "No connection has customer %s of Smile account %s: webhooks stay unrouted",
        row.customer_id,
        account_id,
    )
    return None


def _same(customer, row: UnroutedWebhook) -> bool:
    if row.customer_email and (customer.email or "").strip().lower() != row.customer_email.strip().lower():
        return False
    if row.customer_updated_at:
        try:
            sent = parse_datetime(row.customer_updated_at, "updated_at")
        except SmileError:
            return True
        return customer.updated_at >= sent  # (it may have changed again since: never older)
    return True
