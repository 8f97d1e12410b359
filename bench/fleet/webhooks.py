"""Webhook ingest across the fleet: ``customer/updated`` webhooks at a steady rate into gunicorn, and the
time until each change is visible in its merchant's list.

1. **Changes in Smile.** Customers of the all-members lists, a sample spread across merchants (larger
   merchants get more, as they would), get a new points balance through the sandbox's control API (no
   webhook URL is set: the sandbox sends nothing itself).
2. **Delivery.** The bench posts each change's signed webhook (what Smile sends: the account id and the
   customer) at ``rate`` per second from a few threads with keep-alive connections, in the order the
   changes were made.
3. **Visibility.** A poller reads the list items every 50 ms; a change is visible when the item shows
   the new balance (what the lookup API would answer). received → visible is measured from the
   moment the webhook's answer came back.
4. **Smile's limits.** The sandbox's request log gives the requests of each token in any sliding second
   (at most 10 allowed) and the 429s.
"""

from __future__ import annotations

import concurrent.futures
import json
import statistics
import threading
import time
from collections import defaultdict, deque

import httpx

from integrations.smile.sandbox.data import FIRST_ID
from integrations.smile.sandbox.fleet import ID_SPAN

from .rounds import pct
from .setup import ACCOUNT_ID

VISIBLE_TIMEOUT = 30.0


def _program(customer_id: int) -> int:
    return (customer_id - FIRST_ID) // ID_SPAN + 1


def _targets(count: int) -> list[tuple[int, int, int]]:
    """(list id, Smile customer id, points) of ``count`` members, spread across merchants by size."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.list_id, i.smile_customer_id, i.points_balance FROM lists_listitem i"
            " JOIN lists_loyaltylist l ON l.id = i.list_id WHERE l.name = 'All members' AND i.id %% 37 = 0"
            " ORDER BY i.id %% 7919, i.id LIMIT %s",
            [count],
        )
        return cursor.fetchall()


def _changes(sb, targets, threads: int) -> list[dict]:
    def change(target):
        list_id, customer_id, points = target
        customer = sb.for_program(_program(customer_id)).patch_customer(
            customer_id, points_balance=points + 7
        )
        return {"list_id": list_id, "id": customer_id, "points": points + 7, "customer": customer}

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(change, targets))


def ingest(sb, base_url: str, meter, *, rate: float, seconds: float, threads: int = 32) -> dict:
    from django.conf import settings

    from integrations.smile.webhooks import sign

    count = int(rate * seconds)
    changes = _changes(sb, _targets(count), threads)
    bodies = []
    for change in changes:
        body = {
            "account_id": ACCOUNT_ID + _program(change["id"]) - 1,
            "topic": "customer/updated",
            "data": {"customer": change["customer"]},
        }
        raw = json.dumps(body).encode()
        bodies.append((raw, sign(raw)))
    header = settings.SMILE_WEBHOOK_SIGNATURE_HEADER
    received: dict[int, float] = {}
    answers: list[float] = []
    statuses: dict[int, int] = defaultdict(int)
    lock = threading.Lock()
    jobs = deque(enumerate(bodies))
    epoch = time.time()
    meter.read()
    start = time.monotonic() + 0.5

    def sender():
        with httpx.Client(base_url=base_url, timeout=30) as http:
            while True:
                with lock:
                    if not jobs:
                        return
                    index, (raw, signature) = jobs.popleft()
                due = start + index / rate
                time.sleep(max(0.0, due - time.monotonic()))
                sent = time.monotonic()
                response = http.post(
                    "/integrations/smile/webhooks",
                    content=raw,
                    headers={"Content-Type": "application/json", header: signature},
                )
                done = time.monotonic()
                with lock:
                    statuses[response.status_code] += 1
                    answers.append(done - sent)
                    received[changes[index]["id"]] = done

    visible: dict[int, float] = {}
    poller = threading.Thread(target=_poll, args=(changes, received, visible), daemon=True)
    poller.start()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(sender) for _ in range(threads)]:
            future.result()
    sent_seconds = time.monotonic() - start
    poller.join(VISIBLE_TIMEOUT + 5)
    cpu = meter.read()
    delays = [visible[c] - received[c] for c in visible if c in received]
    limits = _token_seconds(sb.requests_log(since=epoch))
    return {
        "webhooks": len(bodies),
        "target_rate": rate,
        "achieved_rate": round(len(bodies) / sent_seconds, 1),
        "statuses": dict(statuses),
        "answer_p50_ms": round(statistics.median(answers) * 1000, 1),
        "answer_p99_ms": round(pct(answers, 0.99) * 1000, 1),
        "visible": len(delays),
        "not_visible": len(bodies) - len(delays),
        "visible_p50_s": round(statistics.median(delays), 3) if delays else None,
        "visible_p99_s": round(pct(delays, 0.99), 3) if delays else None,
        "visible_max_s": round(max(delays), 3) if delays else None,
        "merchants": len({c["list_id"] for c in changes}),
        "cpu_s": cpu,
        **limits,
    }


def _poll(changes: list[dict], received: dict[int, float], visible: dict[int, float]) -> None:
    from django.db import connection

    from loyalty_lists.lists.models import ListItem

    want = {c["id"]: (c["list_id"], c["points"]) for c in changes}
    deadline = None
    try:
        while want:
            now = time.monotonic()
            if len(received) == len(changes):
                deadline = deadline or now + VISIBLE_TIMEOUT
                if now > deadline:
                    return
            ids = [i for i in want if i in received]
            if ids:
                rows = ListItem.objects.filter(
                    list_id__in={want[i][0] for i in ids}, smile_customer_id__in=ids
                ).values_list("smile_customer_id", "points_balance")
                seen = time.monotonic()
                for customer_id, points in rows:
                    if want.get(customer_id, (None, None))[1] == points:
                        visible[customer_id] = seen
                        del want[customer_id]
            time.sleep(0.05)
    finally:
        connection.close()


def _token_seconds(log: list[dict]) -> dict:
    """The most requests any token made in a sliding second, and the 429s."""
    by_token: dict[str, list[float]] = defaultdict(list)
    too_many = 0
    for entry in log:
        if not entry["path"].startswith("/v1/"):
            continue
        too_many += entry["status"] == 429
        if entry["status"] != 429:
            by_token[entry["token"]].append(entry["ts"])
    worst = 0
    for stamps in by_token.values():
        stamps.sort()
        lo = 0
        for hi, ts in enumerate(stamps):
            while ts - stamps[lo] >= 1.0:
                lo += 1
            worst = max(worst, hi - lo + 1)
    return {
        "smile_requests": sum(len(s) for s in by_token.values()),
        "max_per_token_second": worst,
        "smile_429s": too_many,
    }
