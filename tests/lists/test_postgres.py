"""The sync engine's hand-written SQL on PostgreSQL (the production database).

Marked ``prod``: run by ``bin/with-services .venv/bin/pytest -m prod`` (``make test`` does), which
provides a throwaway PostgreSQL. Selected without it, these tests fail (never skip).
"""

import threading
import time

import pytest
from django.db import connection

from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListChange, ListRunResult, SyncLease, SyncRun

from .conftest import assert_lists_match, items_of
from .sync.test_lease import Gate

pytestmark = pytest.mark.prod


@pytest.fixture(autouse=True)
def _on_postgres(db):
    assert connection.vendor == "postgresql", "run with bin/with-services (DATABASE_URL=postgres://...)"


def test_cycles_webhooks_and_holds_keep_lists_exact_on_postgresql(smile, run_cycle, make_list, merchant):
    bronze, gold = smile.add_tier("Bronze", 0), smile.add_tier("Gold", 500)
    ids = smile.add_many(120, tier=bronze)
    smile.add(None)
    smile.add("twin@example.com", state="candidate", tier=gold)
    smile.add("TWIN@example.com ", tier=gold)
    lists = [make_list("all_members"), make_list("members_and_candidates"), make_list("vip_tier", gold)]
    assert run_cycle().status == "succeeded"
    assert_lists_match(lists, smile)

    smile.update(ids[0], tier=gold)
    smile.update(ids[1], points=99)
    smile.update(ids[2], state="disabled")
    smile.rename_tier(bronze, "Copper")
    delta = run_cycle()
    assert delta.kind == "delta" and delta.status == "succeeded"
    assert_lists_match(lists, smile)
    assert items_of(lists[0])[ids[3]].vip_tier_name == "Copper"
    assert ListChange.objects.filter(run=delta, smile_customer_id=ids[0], kind="tier_up").exists()

    smile.delete(ids[4])
    smile.update(ids[5], state="candidate")
    services.customer_refresh(merchant_id=merchant.pk, smile_customer_id=ids[5], client=smile)
    assert ids[5] not in items_of(lists[0]) and ids[5] in items_of(lists[1])
    assert run_cycle("full").customers_gone == 1
    assert_lists_match(lists, smile)

    for cid in ids[10:60]:
        smile.update(cid, state="disabled")
    held = run_cycle()
    assert held.status == "held"
    result = ListRunResult.objects.get(run=held, list=lists[0])
    services.held_run_approve(result=result)
    assert_lists_match(lists[:1], smile)


@pytest.mark.django_db(transaction=True)
def test_two_cycles_started_at_once_exactly_one_runs_on_postgresql(merchant):
    smile = Gate()
    smile.add_many(3)
    services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    start = threading.Barrier(2)
    results = []

    def worker():
        start.wait()
        try:
            results.append(services.sync_cycle_run(merchant_id=merchant.pk, kind="delta", client=smile))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    assert smile.entered.wait(10)
    for _ in range(400):
        if results:
            break
        time.sleep(0.05)
    assert results == [None], "the second one gave up while the first was still running"
    smile.release.set()
    for thread in threads:
        thread.join(10)
    assert results[1].status == "succeeded"
    assert SyncLease.objects.get().holder is None
    # One cycle ran; the other request was not dropped: it waits as the queued run (sent when the
    # running cycle ended), or — queued before the first cycle took its run — it is the run that ran.
    ran = SyncRun.objects.get(status="succeeded")
    waiting = SyncRun.objects.filter(status="queued").count()
    assert SyncRun.objects.count() == 1 + waiting
    assert waiting == 1 or (waiting == 0 and ran.queued_at is not None), (waiting, ran.queued_at)
