"""django-q2 task functions: thin, take ids, call services.

Schedules (``manage.py ensure_schedules``) run ``sync_fanout`` — one global schedule that queues a
delta for every connected merchant, so connecting or disconnecting a merchant needs no schedule
maintenance —, ``sync_fulls_due`` every few minutes (the full reconciles whose daily slot has come,
``sync/slots.py``) and ``sync_sweep`` every minute, which repairs what dead workers left behind. A
cycle's task runs the merchant's *queued* run when it gets the lease; when another cycle holds it, the
queued run waits and that cycle sends it when it ends. Full walks have a queue of their own when
``SYNC_FULL_QUEUE`` is set (``sync/dispatch.py``).
"""

import logging
import time

from loyalty_lists import metrics

from . import services

logger = logging.getLogger(__name__)


def sync_cycle_task(merchant_id: int, kind: str | None = None, follow_up: bool = False) -> str:
    """Run the merchant's queued cycle (``kind``/``follow_up``: accepted from tasks queued by earlier
    releases; a task without a queued run does nothing)."""
    if services.sync_forward(merchant_id=merchant_id):
        return f"merchant {merchant_id}: its queued cycle is a full walk, sent to the full-walk queue"
    started = time.monotonic(), time.process_time()
    run = services.sync_queued_run(merchant_id=merchant_id)
    _observe(run, started)
    if run is None:
        return f"merchant {merchant_id}: no queued cycle, or another cycle holds the lease (it sends ours)"
    return f"merchant {merchant_id}: {run.kind} run {run.pk} {run.status}"


def customer_refresh_task(merchant_id: int, smile_customer_id: int | None = None) -> str:
    started = time.monotonic(), time.process_time()
    run = services.customer_refresh_drain(merchant_id=merchant_id)
    _observe(run, started)
    return (
        f"merchant {merchant_id}: refresh {'nothing waited' if run is None else f'run {run.pk} {run.status}'}"
    )


def _observe(run, started: tuple[float, float]) -> None:
    """Count a sync task's run (wall time and this worker process's CPU) in the metrics, by its kind."""
    if run is not None:
        wall, cpu = started
        metrics.cycle_observed(
            kind=run.kind,
            status=run.status,
            seconds=time.monotonic() - wall,
            cpu_seconds=time.process_time() - cpu,
        )


def sync_fanout(kind: str = "delta") -> str:
    sent = services.sync_fanout(kind=kind)
    return f"queued {kind} cycles for {sent} merchants"


def sync_fulls_due() -> str:
    queued = services.sync_fulls_due()
    return f"queued the full reconciles of {queued} merchants whose slot came"


def sync_sweep() -> str:
    return f"sweep: {services.sync_sweep()}"
