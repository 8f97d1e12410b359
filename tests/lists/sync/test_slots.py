"""Each merchant's daily full reconcile at its own slot: stable, spread over the day, queued once a day by
the schedule's tick (``lists/sync/slots.py``), never the 03:00 herd."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from integrations.smile.models import SmileConnection
from loyalty_lists.lists import services, tasks
from loyalty_lists.lists.models import SyncRun, SyncState
from loyalty_lists.lists.sync.slots import DAY_MINUTES, fulls_due_queue, slot_after, slot_minute
from loyalty_lists.merchants.models import Merchant

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def connected_merchants(count: int, status=SmileConnection.Status.CONNECTED) -> list[int]:
    start = Merchant.objects.count()
    merchants = Merchant.objects.bulk_create(
        [Merchant(slug=f"m{start + i}", name=f"M {start + i}") for i in range(count)]
    )
    SmileConnection.objects.bulk_create([SmileConnection(merchant=m, status=status) for m in merchants])
    return [m.pk for m in merchants]


def with_states(merchant_ids, *, next_full_at=None, watermark=NOON - timedelta(days=1)):
    SyncState.objects.bulk_create(
        [SyncState(merchant_id=m, watermark=watermark, next_full_at=next_full_at) for m in merchant_ids]
    )


def queued_fulls() -> list[int]:
    return sorted(SyncRun.objects.filter(status="queued", kind="full").values_list("merchant_id", flat=True))


def test_a_merchants_slot_is_a_fixed_minute_of_the_day():
    # Pinned: a slot must not move between releases or processes (it is a pure function of the id).
    assert [slot_minute(m) for m in (1, 2, 3, 42, 10_000)] == [889, 339, 1229, 1378, 489]
    assert all(0 <= slot_minute(m) < DAY_MINUTES for m in range(1, 5000))


def test_slots_cover_the_day_evenly():
    per_minute = Counter(slot_minute(m) for m in range(1, 10_001))
    assert len(per_minute) == DAY_MINUTES, "every minute of the day has merchants"
    assert (min(per_minute.values()), max(per_minute.values())) == (6, 8), "10,000 / 1,440 = 6.9: no clumps"
    per_hour = Counter(slot_minute(m) // 60 for m in range(1, 10_001))
    assert max(per_hour.values()) - min(per_hour.values()) <= 4


def test_the_next_slot_is_strictly_later_and_at_the_merchants_minute():
    for merchant_id in (1, 2, 3, 42):
        at = slot_after(merchant_id, NOON)
        assert NOON < at <= NOON + timedelta(days=1)
        assert at.hour * 60 + at.minute == slot_minute(merchant_id) and at.second == 0
        assert slot_after(merchant_id, at) == at + timedelta(days=1)


def test_a_new_state_gets_its_slot_without_a_full_being_queued():
    [m] = connected_merchants(1)
    with_states([m])

    assert fulls_due_queue(now=NOON) == 0

    assert SyncState.objects.get(merchant_id=m).next_full_at == slot_after(m, NOON)
    assert queued_fulls() == []


def test_the_tick_queues_the_fulls_whose_slot_came_and_moves_them_to_the_next_day():
    due, later = connected_merchants(2)
    with_states([due], next_full_at=NOON - timedelta(minutes=3))
    with_states([later], next_full_at=NOON + timedelta(minutes=3))

    assert fulls_due_queue(now=NOON) == 1

    assert queued_fulls() == [due]
    assert SyncState.objects.get(merchant_id=due).next_full_at == slot_after(due, NOON)
    assert SyncState.objects.get(merchant_id=later).next_full_at == NOON + timedelta(minutes=3)
    assert fulls_due_queue(now=NOON) == 0, "queued once"
    assert [SignedPackage.loads(q.payload)["args"] for q in OrmQ.objects.all()] == [(due,)]


def test_a_merchant_that_is_not_connected_is_not_queued_but_keeps_its_slot():
    [m] = connected_merchants(1, status=SmileConnection.Status.NEEDS_RECONNECT)
    with_states([m], next_full_at=NOON - timedelta(minutes=1))

    assert fulls_due_queue(now=NOON) == 0

    assert queued_fulls() == [] and not OrmQ.objects.exists()
    assert SyncState.objects.get(merchant_id=m).next_full_at == slot_after(m, NOON)


def test_a_queued_delta_becomes_the_full():
    [m] = connected_merchants(1)
    with_states([m], next_full_at=NOON - timedelta(minutes=1))
    delta, _ = services.sync_enqueue(merchant=Merchant.objects.get(pk=m))

    fulls_due_queue(now=NOON)

    delta.refresh_from_db()
    assert (delta.kind, delta.status) == ("full", "queued")
    assert SyncRun.objects.count() == 1


def test_a_tick_that_did_not_run_for_hours_is_caught_up_once_per_merchant():
    merchants = connected_merchants(40)
    with_states(merchants)
    fulls_due_queue(now=NOON)  # every merchant gets its slot after noon

    assert fulls_due_queue(now=NOON + timedelta(hours=6)) == sum(
        slot_after(m, NOON) <= NOON + timedelta(hours=6) for m in merchants
    )
    SyncRun.objects.all().delete()
    assert fulls_due_queue(now=NOON + timedelta(hours=6, minutes=1)) == 0


def test_one_day_of_ticks_queues_every_merchant_once_spread_over_the_day():
    """The acceptance picture: no herd. 300 merchants, a tick every 5 minutes for a day (each tick's
    cycles done before the next): every merchant's full once, no tick with more than a few."""
    merchants = connected_merchants(300)
    with_states(merchants)
    fulls_due_queue(now=NOON)
    per_tick, seen = [], Counter()
    for tick in range(1, 24 * 12 + 1):
        fulls_due_queue(now=NOON + timedelta(minutes=5 * tick))
        fulls = queued_fulls()
        per_tick.append(len(fulls))
        seen.update(fulls)
        SyncRun.objects.all().delete()
    assert sorted(seen) == sorted(merchants) and set(seen.values()) == {1}
    assert max(per_tick) <= 4, per_tick  # 300 / 288 ticks: ~1 each; the 03:00 herd was 300 in one


def test_the_tick_task_says_how_many_it_queued():
    [m] = connected_merchants(1)
    with_states([m], next_full_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert tasks.sync_fulls_due() == "queued the full reconciles of 1 merchants whose slot came"
