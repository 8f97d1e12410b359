"""The outbound side's django-q2 schedules (created by ``manage.py ensure_schedules`` with the sync's)."""

from django_q.models import Schedule

DISPATCH_NAME = "outbound: dispatch"
ALERTS_NAME = "outbound: alerts"
RETENTION_NAME = "outbound: retention"


def schedule_specs() -> list[dict]:
    every = {"schedule_type": Schedule.MINUTES, "repeats": -1}
    return [
        {"name": DISPATCH_NAME, "func": "loyalty_lists.outbound.tasks.dispatch_task", "minutes": 1, **every},
        {"name": ALERTS_NAME, "func": "loyalty_lists.outbound.tasks.alerts_task", "minutes": 1, **every},
        {
            "name": RETENTION_NAME,
            "func": "loyalty_lists.outbound.tasks.retention_task",
            "minutes": 60,
            **every,
        },
    ]
