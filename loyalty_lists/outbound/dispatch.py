"""The dispatcher: cuts each endpoint's changes into deliveries and sends them, in order, one at a time.

**The outbox is the feed.** The changes a publish writes (``ListChange``, in the publish transaction)
are what is delivered; nothing else has to be written in that transaction. An endpoint's ``cursor`` is
the last feed id cut into a ``Delivery``; cutting the next batch (≤ ``OUTBOUND_BATCH_SIZE`` changes of
the endpoint's event types and lists, in feed order, with the endpoint's next ``sequence``) and moving
the cursor is one transaction, and only committed changes are ever cut (``feed.py``). So every change
is in exactly one delivery per endpoint, and a delivery, once cut, is sent until it is acknowledged
(2xx): at least once, with the same ``webhook-id`` on every attempt.

**One delivery in flight per endpoint.** A dispatcher *claims* an endpoint (a conditional UPDATE, as
the sync lease does; ``claimed_by`` / ``claim_expires_at``) and sends its lowest pending delivery, then
the next: a later delivery is never sent while an earlier one is pending, so receivers get sequences in
order. A dispatcher killed mid-delivery leaves the delivery pending; its claim expires after
``claim_ttl()`` and the next dispatcher sends it again.

**Nobody waits for anyone.** Endpoints are drained in parallel threads (``OUTBOUND_CONCURRENCY``), each
attempt with a timeout; a failed attempt schedules the next one (backoff with jitter over ~3 days,
``OUTBOUND_RETRY_DELAYS``) and frees the thread; after the last one the endpoint is disabled (and an
alert is raised). A sync never waits for a delivery: it only marks endpoints ``dirty`` after commit
(``kick.py``). One dispatcher task runs for at most ``OUTBOUND_DISPATCH_SECONDS`` and queues the next
if work remains, so it holds one task worker at a time.
"""

import contextlib
import logging
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from loyalty_lists.lists.models import ListChange

from .alerts import alerts_request
from .delivery import Outcome, deliver
from .endpoints import endpoint_disable, endpoint_secrets
from .feed import event_out, feed_horizon, feed_latest, feed_rows, utc_text
from .kick import dispatch_send, dispatch_started
from .models import Delivery, DeliveryAttempt, WebhookEndpoint

logger = logging.getLogger(__name__)

Status = Delivery.Status
EVENT_TYPE = "list.changes"
SHORT_WAIT_SECONDS = 10.0


def claim_ttl() -> timedelta:
    """Longer than one attempt (a timeout), a short backoff wait and the bookkeeping around them."""
    return timedelta(seconds=settings.OUTBOUND_TIMEOUT_SECONDS * 3 + SHORT_WAIT_SECONDS + 10)


# --- batches ----------------------------------------------------------------------------------------
def batch_next(endpoint_id: int) -> Delivery | None:
    """Cut the endpoint's next delivery from the feed (None: nothing new for it).

    The changes are read and the body built outside any transaction (committed feed rows do not change;
    on SQLite a write transaction would hold the database's one write lock meanwhile, and a sync's writes
    would wait for it); then one short transaction stores the delivery and moves the cursor — only if
    the cursor is still where it was read (the claim holder is the only one who cuts batches anyway)."""
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    upper = feed_latest(endpoint.merchant_id)
    if upper <= endpoint.cursor:
        return None
    size = settings.OUTBOUND_BATCH_SIZE
    rows = feed_rows(
        merchant_id=endpoint.merchant_id,
        after=endpoint.cursor,
        upper=upper,
        limit=size,
        list_ids=endpoint.list_ids,
        kinds=endpoint.event_types,
    )
    last = rows[-1][0] if len(rows) == size else upper
    where = {"pk": endpoint_id, "cursor": endpoint.cursor, "next_sequence": endpoint.next_sequence}
    if not rows:
        WebhookEndpoint.objects.filter(**where).update(cursor=last)
        return None
    now = timezone.now()
    data = {
        "endpoint_id": endpoint.pk,
        "sequence": endpoint.next_sequence,
        "cursor": str(last),
        "events": [event_out(row) for row in rows],
    }
    horizon = feed_horizon(endpoint.merchant_id)
    if endpoint.cursor < horizon:  # disabled past the feed's retention: say what it missed
        data["missed"] = {"after": str(endpoint.cursor), "through": str(horizon)}
    body = orjson.dumps({"type": EVENT_TYPE, "timestamp": utc_text(now), "data": data})
    with transaction.atomic():
        if not WebhookEndpoint.objects.filter(**where).update(
            cursor=last, next_sequence=endpoint.next_sequence + 1
        ):
            return None  # cut by someone else meanwhile
        return Delivery.objects.create(
            merchant_id=endpoint.merchant_id,
            endpoint=endpoint,
            sequence=endpoint.next_sequence,
            message_id=f"msg_{uuid.uuid4().hex}",
            first_change_id=rows[0][0],
            last_change_id=rows[-1][0],
            event_count=len(rows),
            body=body,
            next_attempt_at=now,
            created_at=now,
        )


def _head(endpoint_id: int) -> Delivery | None:
    """The endpoint's next delivery: its lowest pending sequence."""
    return (
        Delivery.objects.filter(endpoint_id=endpoint_id, status=Status.PENDING).order_by("sequence").first()
    )


# --- attempts ---------------------------------------------------------------------------------------
def retry_delay(attempts: int) -> timedelta | None:
    """After ``attempts`` failed attempts: the wait before the next (None: give up)."""
    delays = settings.OUTBOUND_RETRY_DELAYS
    if attempts > len(delays):
        return None
    return timedelta(seconds=delays[attempts - 1] * random.uniform(0.8, 1.2))


def _record(delivery: Delivery, endpoint: WebhookEndpoint, outcome: Outcome, at) -> None:
    attempts = delivery.attempts + 1
    done = {
        "attempts": attempts,
        "last_attempt_at": at,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error[:300],
        "replay": False,
    }
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            merchant_id=delivery.merchant_id,
            delivery=delivery,
            attempted_at=at,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error[:300],
            response_excerpt=outcome.excerpt[:500],
            replay=delivery.replay,
        )
        rows = Delivery.objects.filter(pk=delivery.pk)
        if outcome.ok:
            rows.update(status=Status.DELIVERED, delivered_at=at, next_attempt_at=None, **done)
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
            return
        WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=at)
        delay = retry_delay(attempts)
        if delay is not None:
            rows.update(status=Status.PENDING, next_attempt_at=at + delay, **done)
            return
        rows.update(status=Status.FAILED, next_attempt_at=None, **done)
        why = outcome.error or f"HTTP {outcome.status_code}"
        endpoint_disable(
            endpoint=endpoint,
            automatic=True,
            reason=f"Delivery #{delivery.sequence} failed {attempts} times over about "
            f"{_span()}; the last attempt: {why}"[:500],
        )
        alerts_request(endpoint.merchant_id)


def _span() -> str:
    hours = sum(settings.OUTBOUND_RETRY_DELAYS) / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def attempt(client: httpx.Client, delivery: Delivery, endpoint: WebhookEndpoint) -> bool:
    at = timezone.now()
    outcome = deliver(
        client,
        url=endpoint.url,
        message_id=delivery.message_id,
        body=bytes(delivery.body),
        secrets=endpoint_secrets(endpoint, now=at),
        at=at,
    )
    _record(delivery, endpoint, outcome, at)
    if not outcome.ok:
        logger.info(
            "Webhook endpoint %s: delivery #%s attempt %s failed (%s)",
            endpoint.pk,
            delivery.sequence,
            delivery.attempts + 1,
            outcome.error or outcome.status_code,
        )
    return outcome.ok


# --- draining an endpoint ----------------------------------------------------------------------------
def _claim(endpoint_id: int, worker: str) -> bool:
    now = timezone.now()
    free = Q(claimed_by="") | Q(claim_expires_at__lt=now)
    claimed = (
        WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True)
        .filter(free)
        .update(claimed_by=worker, claim_expires_at=now + claim_ttl())
    )
    return claimed == 1


def _release(endpoint_id: int, worker: str, *, only_if_clean: bool) -> bool:
    rows = WebhookEndpoint.objects.filter(pk=endpoint_id, claimed_by=worker)
    if only_if_clean:
        rows = rows.filter(dirty=False)
    return rows.update(claimed_by="", claim_expires_at=None) == 1


def _wait(delivery: Delivery) -> float:
    if delivery.next_attempt_at is None:
        return 0.0
    return max(0.0, (delivery.next_attempt_at - timezone.now()).total_seconds())


def endpoint_drain(endpoint_id: int, worker: str, deadline: float) -> str:
    """Send the endpoint's deliveries in order until it has none due or ``deadline`` passes:
    ``"idle"``, ``"waiting"`` (next attempt later than ``SHORT_WAIT_SECONDS``), ``"disabled"`` (given
    up), ``"busy"`` (another dispatcher has it) or ``"deadline"`` (more to do). A backoff of at most
    ``SHORT_WAIT_SECONDS`` is waited out in the endpoint's thread (the schedule runs once a minute)."""
    if not _claim(endpoint_id, worker):
        return "busy"
    timeout = httpx.Timeout(settings.OUTBOUND_TIMEOUT_SECONDS)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            extended = time.monotonic()
            while time.monotonic() < deadline:
                if time.monotonic() - extended > claim_ttl().total_seconds() / 3:  # few writes: a sync
                    extended = time.monotonic()  # shares the database
                    WebhookEndpoint.objects.filter(pk=endpoint_id, claimed_by=worker).update(
                        claim_expires_at=timezone.now() + claim_ttl()
                    )
                endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
                if not endpoint.enabled:
                    return "disabled"
                head = _head(endpoint_id) or batch_next(endpoint_id)
                if head is None:
                    # Nothing new: forget the kicks, look once more, and let go unless kicked meanwhile
                    # (a publish committed after that look kicks after its commit: we see it dirty).
                    WebhookEndpoint.objects.filter(pk=endpoint_id, claimed_by=worker).update(dirty=False)
                    if batch_next(endpoint_id) is None and _release(endpoint_id, worker, only_if_clean=True):
                        return "idle"
                    continue
                wait = _wait(head)
                if wait > 0:
                    if wait > SHORT_WAIT_SECONDS or time.monotonic() + wait >= deadline:
                        return "waiting"  # the schedule (every minute) comes back for it
                    time.sleep(wait)  # a short backoff: wait here, in this endpoint's thread
                    continue
                attempt(client, head, endpoint)
            return "deadline"
    finally:
        _release(endpoint_id, worker, only_if_clean=False)


def _lower_priority() -> None:
    """Delivery is background work: its threads run at a lower CPU priority (Linux: per thread), so a
    sync sharing the machine's cores is slowed as little as possible (figure 9)."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), settings.OUTBOUND_THREAD_NICENESS)


def _drain_in_thread(endpoint_id: int, worker: str, deadline: float) -> str:
    _lower_priority()
    try:
        return endpoint_drain(endpoint_id, worker, deadline)
    except Exception:
        logger.exception("Webhook endpoint %s: the dispatcher failed", endpoint_id)
        return "error"
    finally:
        connection.close()  # the thread's own connection


def endpoints_with_work(now=None) -> list[int]:
    """Enabled, unclaimed endpoints with changes past their cursor (announced or not: a lost kick only
    delays them to the next schedule) or a delivery due."""
    now = now or timezone.now()
    pending = Delivery.objects.filter(status=Status.PENDING)
    due = pending.filter(next_attempt_at__lte=now).values("endpoint_id")
    backing_off = pending.filter(next_attempt_at__gt=now).values("endpoint_id")  # new changes wait behind
    newest = ListChange.objects.filter(merchant_id=OuterRef("merchant_id")).order_by("-id").values("id")[:1]
    new_changes = (Q(dirty=True) | Q(cursor__lt=Subquery(newest))) & ~Q(pk__in=backing_off)
    free = Q(claimed_by="") | Q(claim_expires_at__lt=now)
    return list(
        WebhookEndpoint.objects.filter(enabled=True)
        .filter(Q(pk__in=due) | new_changes)
        .filter(free)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def dispatch_run(*, seconds: float | None = None) -> dict[str, int]:
    """One dispatcher pass over every endpoint with work (the task); returns counts per result."""
    dispatch_started()
    deadline = time.monotonic() + (seconds if seconds is not None else settings.OUTBOUND_DISPATCH_SECONDS)
    worker = uuid.uuid4().hex
    ids = endpoints_with_work()
    if not ids:
        return {}
    threads = min(settings.OUTBOUND_CONCURRENCY, len(ids))
    if settings.OUTBOUND_CONCURRENCY <= 1:  # in this thread (tests whose data other threads cannot see)
        results = [endpoint_drain(i, worker, deadline) for i in ids]
    else:  # in threads, even for one endpoint (they run at a lower priority, and end with the pass)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="outbound") as pool:
            results = list(pool.map(lambda i: _drain_in_thread(i, worker, deadline), ids))
    counts: dict[str, int] = {}
    for result in results:
        counts[result] = counts.get(result, 0) + 1
    if counts.get("deadline"):
        dispatch_send()  # more to do: a fresh task, so other tasks get a worker in between
    return counts
