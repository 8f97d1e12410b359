"""Figure 9 — changes flowing out: a full sync that changes ~100k+ memberships (the first fill of three
lists over 100,000 customers: every member "joined") delivered as signed webhooks (Standard Webhooks,
batches of 500) by a real django-q2 cluster to a local receiver that verifies every signature with
``standardwebhooks``; unthrottled sandbox, SQLite.

Value: changes delivered per second, from the publish's commit until the receiver has the last one.
Ratio, in the same run: how much the outbound side slows the sync — the same two full syncs on two
databases from the same sandbox, one with no endpoint (baseline) and one with an endpoint and the
cluster delivering: the first sync (which writes the changes) and a second full sync that runs while
the first one's changes are being delivered (the cluster competes for the same two cores; its delivery
threads run at niceness ``OUTBOUND_THREAD_NICENESS``, and the receiver's at 19: it stands in for
another machine). The worse of the two ratios is the figure's ratio.
"""

import contextlib
import os
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

from .common import BenchDb, Figure, djtool, sandbox
from .servers import qcluster

TARGET_RATE = 5_000
TARGET_SLOWDOWN = 1.10


def _background() -> None:
    """The receiver stands in for another machine: its threads yield the cores to the sync."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class Receiver:
    """Accepts deliveries, verifies each signature, counts events and notes when the last one came."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events = 0
        self.deliveries = 0
        self.ids: set[str] = set()
        self.first = self.last = None
        self.webhook = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                _background()
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                payload = receiver.webhook.verify(body, dict(self.headers.items()))
                with receiver.lock:
                    if self.headers["webhook-id"] not in receiver.ids:
                        receiver.ids.add(self.headers["webhook-id"])
                        receiver.events += len(payload["data"]["events"])
                    receiver.deliveries += 1
                    receiver.first = receiver.first or time.time()
                    receiver.last = time.time()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def stop(self):
        self.server.shutdown()


def _round(sb, n: int, index: int) -> dict:
    """One round: the baseline database's two syncs, then the endpoint database's, deliveries counted."""
    base = BenchDb(f"outbound-base-{index}", sb, rate_limit=0)
    base_first, base_second = base.sync(full=True), base.sync(full=True)
    base.remove()
    receiver, cluster = Receiver(), None
    try:
        db = BenchDb(f"outbound-{index}", sb, rate_limit=0)
        db.env.update(OUTBOUND_ALLOW_PRIVATE_URLS="1", OUTBOUND_DISPATCH_SECONDS="30")
        receiver.webhook = Webhook(djtool(["endpoint", "--url", receiver.url], db.env)["secret"])
        djtool(["unqueue"], db.env)  # the first sync is the benchmark's, not the cluster's
        cluster = qcluster(db.env, db.dir / f"qcluster-outbound-{index}.log")
        time.sleep(3)  # the cluster's workers start
        first = db.sync(full=True)  # writes the changes; delivery starts at its commit
        second = db.sync(full=True)  # runs while the first one's changes are delivered
        feed = djtool(["feed"], db.env)
        deadline = time.monotonic() + max(600, feed["changes"] / 500)
        while receiver.events < feed["changes"]:
            if time.monotonic() > deadline or cluster.proc.poll() is not None:
                raise RuntimeError(
                    f"{receiver.events} of {feed['changes']} changes arrived:\n{cluster.tail()}"
                )
            time.sleep(0.1)
        delivered_in = receiver.last - first["finished_epoch"]
        db.remove()
    finally:
        if cluster is not None:
            cluster.stop()
        receiver.stop()
    return {
        "changes": receiver.events,
        "deliveries": len(receiver.ids),
        "posts": receiver.deliveries,
        "delivered_in_s": delivered_in,
        "rate": receiver.events / delivered_in,
        "sync_s": {
            "baseline_first": base_first["run_seconds"],
            "baseline_second": base_second["run_seconds"],
            "with_endpoint_first": first["run_seconds"],
            "with_endpoint_second_during_delivery": second["run_seconds"],
        },
        "writing": first["run_seconds"] / base_first["run_seconds"],
        "during": second["run_seconds"] / base_second["run_seconds"],
    }


def run(sizes: dict) -> list[Figure]:
    n, count = sizes["outbound"], sizes["outbound_rounds"]
    sb = sandbox(n, rate_limit=0, latency_ms=0)
    try:
        rounds = [_round(sb, n, i) for i in range(count)]
    finally:
        sb.stop()
    rate = statistics.median(r["rate"] for r in rounds)
    ratios = {
        "sync writing the changes": statistics.median(r["writing"] for r in rounds),
        "sync during their delivery": statistics.median(r["during"] for r in rounds),
    }
    worst = max(ratios.values())
    changes = rounds[0]["changes"]
    each = "; ".join(f"{r['rate']:,.0f}/s, {r['writing']:.3f}x / {r['during']:.3f}x" for r in rounds)
    return [
        Figure(
            9,
            f"Outbound: {changes:,} changes of a full sync ({n:,} customers, 3 lists) delivered as "
            f"signed webhooks to a local receiver (median of {count} rounds)",
            rate,
            "changes/s",
            statistics.median(r["sync_s"]["baseline_first"] for r in rounds),
            "the same full sync, no endpoint (s)",
            worst,
            "x sync time with delivery (worse of two medians)",
            f">= {TARGET_RATE:,} changes/s, <= {TARGET_SLOWDOWN:.2f}x",
            rate >= TARGET_RATE and worst <= TARGET_SLOWDOWN,
            {
                "customers": n,
                "changes": changes,
                "rounds": rounds,
                "ratios": ratios,
                "summary": (
                    f"{changes:,} changes in {rounds[0]['deliveries']} deliveries: {rate:,.0f}/s after the "
                    f"commit; sync {ratios['sync writing the changes']:.3f}x (writing them), "
                    f"{ratios['sync during their delivery']:.3f}x (during their delivery) — rounds: {each}"
                ),
            },
        )
    ]
