"""Reads of the outbound side for the pages and the API, always scoped to one merchant."""

from datetime import timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from .models import Alert, AlertOptOut, Delivery, DeliveryAttempt, WebhookEndpoint

RESOLVED_NOTICE_HOURS = 24


def endpoints_for_merchant(*, merchant) -> QuerySet[WebhookEndpoint]:
    pending = Count("deliveries", filter=Q(deliveries__status=Delivery.Status.PENDING))
    return WebhookEndpoint.objects.for_merchant(merchant).annotate(pending_deliveries=pending).order_by("pk")


def endpoint_get(*, merchant, endpoint_id: int) -> WebhookEndpoint | None:
    return endpoints_for_merchant(merchant=merchant).filter(pk=endpoint_id).first()


def deliveries_for_endpoint(*, endpoint: WebhookEndpoint, attempts: int = 10) -> QuerySet[Delivery]:
    """Newest first, each with its latest ``attempts`` attempts (``attempt_list``)."""
    latest = DeliveryAttempt.objects.order_by("-attempted_at", "-pk")
    return (
        Delivery.objects.filter(merchant_id=endpoint.merchant_id, endpoint=endpoint)
        .defer("body")
        .prefetch_related(Prefetch("attempt_log", queryset=latest, to_attr="attempt_list"))
        .order_by("-sequence")
    )


def notices_for_merchant(*, merchant) -> list[Alert]:
    """Open alerts, and those resolved within a day (the overview's notices), newest first."""
    since = timezone.now() - timedelta(hours=RESOLVED_NOTICE_HOURS)
    alerts = Alert.objects.for_merchant(merchant).filter(
        Q(resolved_at__isnull=True) | Q(resolved_at__gte=since)
    )
    return list(alerts.order_by("resolved_at", "-opened_at", "-pk")[:20])


def alert_history(*, merchant, limit: int = 100) -> list[Alert]:
    return list(Alert.objects.for_merchant(merchant).order_by("-opened_at", "-pk")[:limit])


def alert_emails_on(*, merchant, user) -> bool:
    return not AlertOptOut.objects.filter(merchant=merchant, user=user).exists()
