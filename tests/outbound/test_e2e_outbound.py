"""End to end, with real parts: the Smile sandbox (webhooks on) posting to the live server, a real
django-q2 cluster draining refreshes and delivering webhooks, a real local HTTP receiver verifying every
delivery with ``standardwebhooks``, and a real SMTP server (``aiosmtpd``) receiving the alerts.

A tier is deleted (its list goes stale), a third of the members leave through webhooks (the list is
held, then approved), the receiver fails for a while (500s, then timeouts) and comes back, the task
cluster is killed with ``kill -9`` in the middle of a delivery, the token is revoked (the connection needs
reconnecting and syncs keep failing), and a second endpoint that never answers is disabled. In the end
the receiver has every change exactly once per ``webhook-id``, in sequence order, equal to what the lists
saw, and rebuilds every list; the SMTP server has one mail per condition (and one when the hold was
resolved).
"""

import os
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from loyalty_lists.lists import services
from loyalty_lists.lists.models import (
    ListChange,
    ListRunResult,
    LoyaltyList,
    RefreshRequest,
    SyncRun,
    SyncState,
)
from loyalty_lists.outbound.alerts import alerts_evaluate
from loyalty_lists.outbound.endpoints import endpoint_create
from loyalty_lists.outbound.feed import FIELDS, event_out
from loyalty_lists.outbound.models import Delivery, WebhookEndpoint
from loyalty_lists.outbound.schedules import schedule_specs
from tests.integrations.smile.conftest import connect_with_sandbox_tokens, point_settings_at
from tests.support.feed_consumer import Lists, lists_now
from tests.support.processes import QCluster, cluster_env
from tests.support.smtp import SmtpServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
CUSTOMERS = 400
RETRIES = "1,1,1,2,2,2,2,3,3,3,3,3,3,3"  # ~32 s of retries before an endpoint is disabled


def wait_for(predicate, timeout, what, cluster=None):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, (
            f"timed out waiting for {what}\n{cluster.output() if cluster else ''}"
        )
        time.sleep(0.3)


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def stack(transactional_db, live_server, smile_sandbox_factory, settings, merchant_factory, tmp_path, smtp):
    database = connection.settings_dict["NAME"]
    assert Path(database).exists(), f"the test database is not a file: {database}"
    sandbox = smile_sandbox_factory(
        customers=CUSTOMERS,
        seed=44,
        rate_limit=0,
        webhook_url=f"{live_server.url}/integrations/smile/webhooks",
    )
    point_settings_at(settings, sandbox)
    settings.SMILE_WEBHOOK_SECRET = sandbox.client_secret
    settings.SMILE_RATE_LIMIT_PER_SECOND = 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    merchant, user = merchant_factory("outbound")
    connect_with_sandbox_tokens(merchant, sandbox)
    dispatch = next(s for s in schedule_specs() if s["name"] == "outbound: dispatch")
    Schedule.objects.create(next_run=timezone.now(), **dispatch)  # retries and dead workers' claims
    env = cluster_env(
        database,
        sandbox,
        SMILE_WEBHOOK_SECRET=sandbox.client_secret,
        SMILE_RATE_LIMIT_PER_SECOND="0",
        EMAIL_URL=smtp.url,
        OUTBOUND_BATCH_SIZE="100",
        OUTBOUND_TIMEOUT_SECONDS="1",
        OUTBOUND_RETRY_DELAYS=RETRIES,
        OUTBOUND_DISPATCH_SECONDS="15",
        OUTBOUND_CONCURRENCY="4",  # threads, as in production (tests.settings: 1, for in-process tests)
    )
    settings.OUTBOUND_RETRY_DELAYS = [int(x) for x in RETRIES.split(",")]
    settings.OUTBOUND_TIMEOUT_SECONDS = 1
    clusters = [QCluster(env, tmp_path / "qcluster-1.log")]

    def restart():
        clusters.append(QCluster(env, tmp_path / f"qcluster-{len(clusters) + 1}.log"))
        clusters[-1].wait_running()
        return clusters[-1]

    try:
        clusters[0].wait_running()
        yield sandbox, merchant, user, clusters, restart
    finally:
        for cluster in clusters:
            cluster.stop()


def drained(sandbox, merchant, cluster):
    sandbox.webhook_deliveries(wait=60)
    wait_for(
        lambda: (
            not RefreshRequest.objects.filter(merchant=merchant).exists()
            and not SyncState.objects.filter(merchant=merchant, refresh_queued_at__isnull=False).exists()
        ),
        180,
        "the webhook refreshes",
        cluster,
    )


def delivered_everything(endpoint, cluster, timeout=120):
    def done():
        newest = ListChange.objects.filter(merchant_id=endpoint.merchant_id).order_by("-pk").first()
        endpoint.refresh_from_db()
        pending = Delivery.objects.filter(endpoint=endpoint).exclude(status="delivered").exists()
        return newest is not None and endpoint.cursor >= newest.pk and not pending

    wait_for(done, timeout, "every change delivered", cluster)


def test_changes_reach_a_receiver_signed_in_order_through_failures_and_a_killed_cluster_and_alerts_mail(
    stack, receiver, smtp
):
    sandbox, merchant, user, clusters, restart = stack
    export = sandbox.export()
    biggest = max(
        export["vip_tiers"], key=lambda t: sum(c["vip_tier_id"] == t["id"] for c in export["customers"])
    )
    endpoint, secret = endpoint_create(merchant=merchant, url=receiver.url)
    dead, _dead_secret = endpoint_create(
        merchant=merchant, url="http://127.0.0.1:9/never", event_types=["list_held"]
    )
    members = services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    tier_list = LoyaltyList.objects.create(
        merchant=merchant, name=f"{biggest['name']} VIPs", audience="vip_tier", vip_tier_id=biggest["id"]
    )
    assert services.sync_cycle_run(merchant_id=merchant.pk, kind="full").status == "succeeded"
    delivered_everything(endpoint, clusters[-1])
    assert len(receiver.events(secret)) == ListChange.objects.filter(merchant=merchant).count() > 300

    # 1. Delete a tier: its webhooks drain, its list goes stale (keeping its members).
    sandbox.delete_tier(biggest["id"])
    drained(sandbox, merchant, clusters[-1])
    tier_list.refresh_from_db()
    assert tier_list.is_stale

    # 2. A third of the members leave through webhooks: held, then approved.
    members.refresh_from_db()
    leaving = sorted(
        ListChange.objects.filter(list=members, kind="joined").values_list("smile_customer_id", flat=True)
    )
    for cid in leaving[: members.item_count // 3]:
        sandbox.patch_customer(cid, state="candidate")
    drained(sandbox, merchant, clusters[-1])
    hold = ListRunResult.objects.get(list=members, decision="pending")
    wait_for(
        lambda: any("held for approval" in s for s in smtp.subjects()), 60, "the held mail", clusters[-1]
    )
    services.held_run_approve(result=hold, user=user)

    # 3. The receiver fails (500s, then timeouts) while changes keep coming, then comes back.
    receiver.status = 500
    for cid in leaving[-20:]:
        sandbox.patch_customer(cid, points_balance=7777)
    drained(sandbox, merchant, clusters[-1])
    wait_for(lambda: len([r for r in receiver.requests if r.status == 500]) >= 2, 60, "failed attempts")
    receiver.status, receiver.delay = 200, 3.0  # answers too late: timeouts
    wait_for(
        lambda: Delivery.objects.filter(endpoint=endpoint, last_error="Timed out.").exists(), 60, "a timeout"
    )
    receiver.delay = 0
    delivered_everything(endpoint, clusters[-1])

    # 4. kill -9 the cluster while a delivery is in flight: nothing is lost.
    receiver.delay = 5.0
    for cid in leaving[-40:-20]:
        sandbox.patch_customer(cid, points_balance=4242)
    in_flight = len(receiver.requests)
    drained(sandbox, merchant, clusters[-1])
    wait_for(lambda: WebhookEndpoint.objects.get(pk=endpoint.pk).claimed_by != "", 60, "a delivery in flight")
    time.sleep(1)
    os.killpg(clusters[-1].popen.pid, signal.SIGKILL)
    clusters[-1].popen.wait(10)
    receiver.delay = 0
    restart()
    delivered_everything(endpoint, clusters[-1], timeout=180)
    assert len(receiver.requests) > in_flight

    # 5. The token is revoked: cycles fail, the connection needs reconnecting; syncs keep failing.
    sandbox.revoke_tokens()
    assert services.sync_cycle_run(merchant_id=merchant.pk).status == "failed"
    SyncRun.objects.filter(merchant=merchant, status__in=["succeeded", "held"]).update(
        finished_at=timezone.now() - timedelta(hours=2)  # the last good sync, long ago
    )
    assert services.sync_cycle_run(merchant_id=merchant.pk).status == "failed"
    alerts_evaluate(merchant.pk)  # what the minute schedule does

    # The endpoint that never answers is disabled after its retries; its alert is mailed.
    wait_for(lambda: not WebhookEndpoint.objects.get(pk=dead.pk).enabled, 120, "the dead endpoint disabled")
    wait_for(lambda: any("endpoint disabled" in s for s in smtp.subjects()), 60, "the disabled mail")
    delivered_everything(endpoint, clusters[-1])

    # Every change reached the receiver: signed, once per webhook-id, in sequence order, exactly the feed.
    accepted = receiver.accepted()
    payloads = receiver.verified(secret)  # raises unless every signature verifies
    by_id: dict[str, bytes] = {}
    for request in accepted:
        assert by_id.setdefault(request.message_id, request.body) == request.body, "a redelivery is the same"
    sequences = [p["data"]["sequence"] for p in payloads]
    first_seen = list(dict.fromkeys(sequences))
    assert first_seen == sorted(first_seen) == list(range(1, len(first_seen) + 1)), "in sequence order"
    rows = ListChange.objects.filter(merchant=merchant, pk__gt=0).order_by("pk").values_list(*FIELDS)
    assert receiver.events(secret) == [event_out(row) for row in rows], "exactly the changes the lists saw"
    rebuilt = Lists()
    for event in receiver.events(secret):
        rebuilt.apply(event)
    assert rebuilt.nonempty() == lists_now(merchant)
    kinds = {e["kind"] for e in receiver.events(secret)}
    assert {"joined", "left", "metadata_changed", "list_stale", "list_held", "list_approved"} <= kinds
    assert len(accepted) > len(by_id) or len(receiver.requests) > len(accepted), "there were retries"

    # One mail per condition (and one when the hold was resolved by the approval).
    wait_for(lambda: len(smtp.subjects()) >= 6, 60, "the mails")
    time.sleep(2)
    assert Counter(smtp.subjects()) == Counter(
        {
            f"[Outbound] List “{tier_list.name}” is stale": 1,
            "[Outbound] List “Members” is held for approval": 1,
            "[Outbound] Resolved: List “Members” is held for approval": 1,
            "[Outbound] Webhook endpoint disabled": 1,
            "[Outbound] Smile connection needs reconnecting": 1,
            "[Outbound] Syncs keep failing": 1,
        }
    ), smtp.subjects()
    assert {tuple(m["to"]) for m in smtp.mails()} == {("admin@outbound.example",)}
