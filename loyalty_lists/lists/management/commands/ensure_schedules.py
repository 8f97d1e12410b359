"""Create or update the django-q2 schedules of the sync engine. Idempotent; run on every deploy
(``make run`` runs it). Never run from ``AppConfig.ready``.

Global schedules, so connecting a merchant needs no schedule work:
* ``lists: delta sync``  every ``SYNC_INTERVAL_MINUTES`` minutes: a delta for every connected merchant
  (``tasks.sync_fanout``);
* ``lists: full sync``   every ``SYNC_FULL_TICK_MINUTES`` minutes (``tasks.sync_fulls_due``): the daily
  full reconcile (which catches customers deleted in Smile) of each merchant whose slot, its own minute
  of the day, has come (``lists/sync/slots.py``), not every merchant at once;
* ``lists: sweep``       every minute (``tasks.sync_sweep``): frees the lease of a dead worker, marks its
  run failed and queues the next cycle; re-sends lost tasks of queued cycles and webhook refreshes;
* and the outbound side's (``loyalty_lists/outbound/schedules.py``): webhook dispatch and alerts every
  minute, the change feed's retention hourly.
``catch_up`` is off and ``retry`` exceeds ``timeout`` (``Q_CLUSTER`` in settings; checked here).
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from loyalty_lists.outbound.schedules import schedule_specs as outbound_schedule_specs

FANOUT = "loyalty_lists.lists.tasks.sync_fanout"
DELTA_NAME = "lists: delta sync"
FULL_NAME = "lists: full sync"
FULLS_DUE = "loyalty_lists.lists.tasks.sync_fulls_due"
SWEEP_NAME = "lists: sweep"
SWEEP = "loyalty_lists.lists.tasks.sync_sweep"


def schedule_specs() -> list[dict]:
    return [
        {
            "name": DELTA_NAME,
            "func": FANOUT,
            "args": "'delta'",
            "schedule_type": Schedule.MINUTES,
            "minutes": settings.SYNC_INTERVAL_MINUTES,
            "repeats": -1,
        },
        {
            "name": FULL_NAME,
            "func": FULLS_DUE,
            "args": None,
            "schedule_type": Schedule.MINUTES,
            "minutes": settings.SYNC_FULL_TICK_MINUTES,
            "repeats": -1,
        },
        {"name": SWEEP_NAME, "func": SWEEP, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
        *outbound_schedule_specs(),
    ]


class Command(BaseCommand):
    help = (
        "Create or update the sync schedules (delta every SYNC_INTERVAL_MINUTES; each merchant's daily full"
        " at its own slot, looked for every SYNC_FULL_TICK_MINUTES). Idempotent."
    )

    def handle(self, *args, **options):
        q = settings.Q_CLUSTER
        if q.get("catch_up", True):
            raise CommandError("Q_CLUSTER['catch_up'] must be False: missed sync runs must not pile up.")
        if q.get("retry", 0) <= q.get("timeout", 0):
            raise CommandError(
                "Q_CLUSTER['retry'] must exceed ['timeout'], or a long sync is handed out twice."
            )
        with transaction.atomic():
            for spec in schedule_specs():
                name = spec.pop("name")
                schedule = Schedule.objects.filter(name=name).order_by("pk").first()
                if schedule is None:
                    Schedule.objects.create(name=name, next_run=timezone.now(), **spec)
                    verb = "created"
                else:
                    # Keep next_run: redeploying must not postpone (or re-trigger) the next run, unless
                    # the schedule became another one (the daily 03:00 full became a tick every few
                    # minutes: waiting for 03:00 would let every slot until then fall due at once).
                    changed = {k: v for k, v in spec.items() if getattr(schedule, k) != v}
                    for key, value in changed.items():
                        setattr(schedule, key, value)
                    if {"func", "schedule_type"} & set(changed):
                        schedule.next_run = timezone.now()
                    if changed:
                        schedule.save()
                    Schedule.objects.filter(name=name).exclude(pk=schedule.pk).delete()
                    verb = "updated" if changed else "unchanged"
                self.stdout.write(f"{name}: {verb}")
