"""django-q2 task functions: thin, take ids, call services.

Schedules (``manage.py ensure_schedules``) run ``sync_fanout`` — one global schedule per kind that
queues one ``sync_cycle_task`` per connected merchant, so connecting or disconnecting a merchant needs no
schedule maintenance. The per-merchant lease makes overlapping cycles harmless: the late one records a
request and the running cycle queues one follow-up when it finishes.
"""

import logging

from django_q.tasks import async_task

from . import services

logger = logging.getLogger(__name__)


def sync_cycle_task(merchant_id: int, kind: str = "delta", follow_up: bool = False) -> str:
    run = services.sync_cycle_run(merchant_id=merchant_id, kind=kind, follow_up=follow_up)
    if run is None:
        if follow_up:
            return f"merchant {merchant_id}: another cycle is running (it covers this follow-up); skipped"
        return f"merchant {merchant_id}: another cycle is running; it queues a follow-up when it finishes"
    return f"merchant {merchant_id}: {run.kind} run {run.pk} {run.status}"


def customer_refresh_task(merchant_id: int, smile_customer_id: int) -> str:
    run = services.customer_refresh(merchant_id=merchant_id, smile_customer_id=smile_customer_id)
    return f"merchant {merchant_id}: customer {smile_customer_id} refresh {run.status}"


def connected_merchant_ids() -> list[int]:
    from integrations.smile.models import SmileConnection

    return list(
        SmileConnection.objects.filter(status=SmileConnection.Status.CONNECTED)
        .order_by("merchant_id")
        .values_list("merchant_id", flat=True)
    )


def sync_fanout(kind: str = "delta") -> str:
    merchant_ids = connected_merchant_ids()
    for merchant_id in merchant_ids:
        async_task(services.TASK_CYCLE, merchant_id, kind, task_name=f"sync {kind} merchant {merchant_id}")
    return f"queued {kind} cycles for {len(merchant_ids)} merchants"
