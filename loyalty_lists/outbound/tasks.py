"""django-q2 tasks of the outbound side: thin, take ids, call services.

Schedules (``manage.py ensure_schedules``): ``outbound: dispatch`` every minute (retries coming due,
lost kicks), ``outbound: alerts`` every minute, ``outbound: retention`` hourly.
"""

import logging

from django.utils import timezone

from .alerts import alerts_evaluate, alerts_evaluate_all
from .dispatch import dispatch_run
from .retention import retention_run

logger = logging.getLogger(__name__)


def dispatch_task() -> str:
    return f"dispatch: {dispatch_run()}"


def alerts_task(merchant_id: int | None = None) -> str:
    if merchant_id is None:
        return f"alerts: {alerts_evaluate_all()}"
    opened, resolved = alerts_evaluate(merchant_id)
    return f"alerts of merchant {merchant_id}: {opened} opened, {resolved} resolved"


def retention_task() -> str:
    """Feed rows and finished deliveries older than the retention (enabled endpoints keep their due)."""
    return f"retention: {retention_run(now=timezone.now())}"
