"""Retention of the outbound side (hourly): feed rows older than ``CHANGE_FEED_RETENTION_DAYS`` (never
past what an enabled endpoint still has to cut into deliveries) and finished deliveries of that age."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Min

from .feed import feed_purge
from .models import Delivery, WebhookEndpoint


def retention_run(*, now: datetime) -> dict[str, int]:
    days = settings.CHANGE_FEED_RETENTION_DAYS
    if days <= 0:
        return {"changes": 0, "deliveries": 0}
    keep_for = dict(
        WebhookEndpoint.objects.filter(enabled=True)
        .values_list("merchant_id")
        .annotate(cursor=Min("cursor"))
        .order_by()
    )
    changes = feed_purge(now=now, keep_for=keep_for)
    finished = Delivery.objects.filter(
        status__in=[Delivery.Status.DELIVERED, Delivery.Status.FAILED],
        created_at__lt=now - timedelta(days=days),
    )
    deliveries = finished.delete()[1].get(Delivery._meta.label, 0)
    return {"changes": changes, "deliveries": deliveries}
