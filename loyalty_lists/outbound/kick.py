"""Waking the dispatcher: new changes mark the merchant's endpoints dirty and queue one dispatcher task
(at most one queued at a time: ``DispatchState.queued_at``). The minute schedule runs it too, for
retries coming due and for a task the broker lost."""

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from .models import DispatchState, WebhookEndpoint

logger = logging.getLogger(__name__)

TASK = "loyalty_lists.outbound.tasks.dispatch_task"
LOST_AFTER = timedelta(minutes=5)  # a queued task not started by then is sent again


def dispatch_send() -> bool:
    """Queue the dispatcher unless it is queued already; True when a task was sent."""
    now = timezone.now()
    DispatchState.objects.get_or_create(pk=1)
    claimed = (
        DispatchState.objects.filter(pk=1)
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - LOST_AFTER))
        .update(queued_at=now)
    )
    if claimed:
        async_task(TASK, task_name="outbound dispatch")
    return bool(claimed)


def dispatch_started() -> None:
    """The dispatcher task started: later kicks queue another (it may miss what they announce)."""
    DispatchState.objects.filter(pk=1).update(queued_at=None)


def dispatch_kick(merchant_id: int) -> bool:
    """The merchant's feed grew: its enabled endpoints have work; queue the dispatcher if any."""
    if WebhookEndpoint.objects.filter(merchant_id=merchant_id, enabled=True).update(dirty=True):
        return dispatch_send()
    return False
