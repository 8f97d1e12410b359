"""End to end: the sandbox sends a signed customer/updated webhook to the real app (gunicorn), the real
django-q2 cluster runs the refresh, and the list shows the change within about a second.

Everything runs in its own processes on a throwaway SQLite file (the processes share it, as in the
demo); this test reads the results straight from that file.
"""

import os
import sqlite3
import subprocess
import time

import httpx
import pytest

from integrations.smile.webhooks import sign
from tests.prod.processes import GUNICORN, PYTHON, ROOT, Process, free_port, wait_for_http, wait_until

pytestmark = pytest.mark.e2e

API_KEY = "api_e2e_webhooks"
ACCOUNT_ID = 77
SETUP = f"""
from integrations.smile.services import connection_account_id_record, connection_api_key_connect
from loyalty_lists.lists import services
from loyalty_lists.merchants.models import Merchant
merchant = Merchant.objects.create(slug="e2e", name="E2E")
connection_api_key_connect(merchant=merchant, user=None, api_key="{API_KEY}")
connection_account_id_record(merchant=merchant, account_id={ACCOUNT_ID})
services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
from django_q.models import OrmQ
OrmQ.objects.all().delete()  # the first sync connecting queued: this test runs it by hand (sync_lists)
"""


@pytest.fixture
def app(tmp_path, smile_sandbox_factory):
    port = free_port()
    sandbox = smile_sandbox_factory(
        customers=200,
        seed=11,
        rate_limit=0,
        api_key=[API_KEY],
        account_id=ACCOUNT_ID,
        webhook_url=f"http://127.0.0.1:{port}/integrations/smile/webhooks",
    )
    db = tmp_path / "e2e.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        SQLITE_PATH=str(db),
        SMILE_API_BASE=sandbox.api_base,
        SMILE_RATE_LIMIT_PER_SECOND="0",
        Q_CLUSTER_NAME=f"e2e-webhooks-{port}",
        Q_WORKERS="1",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",  # the cluster says when it is running
    )

    def manage(*args):
        done = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    manage("migrate", "--noinput")
    manage("shell", "-c", SETUP)
    first_sync = manage("sync_lists", "--merchant", "e2e", "--full")
    processes = [
        Process("qcluster", [PYTHON, "manage.py", "qcluster"], env, tmp_path),
        Process(
            "gunicorn", [GUNICORN, "-b", f"127.0.0.1:{port}", "-w", "1", "loyalty_lists.wsgi"], env, tmp_path
        ),
    ]
    try:
        wait_for_http(f"http://127.0.0.1:{port}/integrations/smile/webhooks", processes[1])
        wait_until(lambda: "running" in processes[0].output().lower(), 60, message=processes[0].describe())
        yield sandbox, db, port, first_sync
    finally:
        for process in processes:
            process.stop()


def query(db, sql, *params):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(sql, params).fetchall()


def test_a_webhook_for_a_changed_customer_is_in_the_list_within_about_a_second(app):
    sandbox, db, port, first_sync = app
    assert "succeeded" in first_sync and "Members: Published" in first_sync
    [(cid, points)] = query(
        db, "SELECT smile_customer_id, points_balance FROM lists_listitem ORDER BY id LIMIT 1"
    )

    def points_in_list():
        return query(db, "SELECT points_balance FROM lists_listitem WHERE smile_customer_id = ?", cid)

    sandbox.patch_customer(cid, points_balance=points + 1)  # an earlier change: its body is replayed below
    wait_until(lambda: points_in_list() == [(points + 1,)], timeout=15, message="the first webhook got lost")

    started = time.monotonic()
    sandbox.patch_customer(cid, points_balance=points + 777)  # the sandbox sends customer/updated
    wait_until(
        lambda: points_in_list() == [(points + 777,)],
        timeout=15,
        interval=0.02,
        message="the webhook never reached the list",
    )
    latency = time.monotonic() - started

    print(f"webhook -> list item in {latency:.2f} s")
    assert latency < 2.0, f"took {latency:.2f} s"
    # Refreshes of the same minute are one history row; the changes are recorded one by one.
    runs = query(db, "SELECT status, SUM(items_changed) FROM lists_syncrun WHERE kind = 'webhook'")
    assert runs == [("succeeded", 2)]
    assert query(
        db, "SELECT kind FROM lists_listchange WHERE smile_customer_id = ? ORDER BY id DESC LIMIT 1", cid
    ) == [("metadata_changed",)]

    # A duplicate and an out-of-order delivery (the older body arriving late) are recognised from the
    # updated_at they carry: acknowledged, nothing fetched, nothing changed.
    smile_calls = len([r for r in sandbox.requests_log() if r["path"] == f"/v1/customers/{cid}"])
    sandbox.send_webhook(cid, duplicate=True)
    sandbox.send_webhook(cid, previous=True)
    deliveries = sandbox.webhook_deliveries(wait=10)
    assert [d["status"] for d in deliveries[-3:]] == [200, 200, 200]
    time.sleep(0.5)  # what a queued refresh would need to show up
    assert len([r for r in sandbox.requests_log() if r["path"] == f"/v1/customers/{cid}"]) == smile_calls
    assert points_in_list() == [(points + 777,)]
    assert query(db, "SELECT SUM(items_changed) FROM lists_syncrun WHERE kind = 'webhook'") == [(2,)]

    # A forged delivery is refused and queues nothing.
    wait_until(lambda: query(db, "SELECT COUNT(*) FROM django_q_ormq") == [(0,)], timeout=15)
    body = b'{"account_id": 77, "topic": "customer/updated", "data": {"customer": {"id": 1}}}'
    forged = httpx.post(
        f"http://127.0.0.1:{port}/integrations/smile/webhooks",
        content=body,
        headers={"X-Smile-Hmac-Sha256": sign(body, secret="guessed"), "Content-Type": "application/json"},
    )
    assert forged.status_code == 401
    time.sleep(0.5)  # what a queued refresh would need to show up
    assert query(db, "SELECT COUNT(*) FROM django_q_ormq") == [(0,)]
    assert query(db, "SELECT SUM(items_changed) FROM lists_syncrun WHERE kind = 'webhook'") == [(2,)]
