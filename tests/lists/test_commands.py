"""Management commands: ensure_schedules and sync_lists."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django_q.models import Schedule

from loyalty_lists.lists.management.commands.ensure_schedules import DELTA_NAME, FULL_NAME, SWEEP_NAME
from loyalty_lists.lists.models import SyncRun


def run_command(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


@override_settings(SYNC_INTERVAL_MINUTES=7, SYNC_FULL_TICK_MINUTES=4)
def test_ensure_schedules_creates_the_delta_and_full_schedules_once(db):
    first = run_command("ensure_schedules")
    second = run_command("ensure_schedules")

    assert f"{DELTA_NAME}: created" in first and f"{DELTA_NAME}: unchanged" in second
    delta, full = Schedule.objects.get(name=DELTA_NAME), Schedule.objects.get(name=FULL_NAME)
    assert Schedule.objects.count() == 6  # and the outbound side's three (tests/outbound)
    sweep = Schedule.objects.get(name=SWEEP_NAME)
    assert (sweep.func, sweep.schedule_type, sweep.minutes) == (
        "loyalty_lists.lists.tasks.sync_sweep",
        Schedule.MINUTES,
        1,
    )
    assert (delta.func, delta.args, delta.schedule_type, delta.minutes, delta.repeats) == (
        "loyalty_lists.lists.tasks.sync_fanout",
        "'delta'",
        Schedule.MINUTES,
        7,
        -1,
    )
    assert (full.func, full.args, full.schedule_type, full.minutes) == (
        "loyalty_lists.lists.tasks.sync_fulls_due",
        None,
        Schedule.MINUTES,
        4,
    )


def test_ensure_schedules_turns_the_old_daily_full_into_a_tick_starting_now(db):
    """The 03:00 herd's schedule becomes the slots' tick at once: waiting for its 03:00 next_run would
    let every slot until then fall due together."""
    from datetime import timedelta

    from django.utils import timezone

    tomorrow_3am = timezone.now() + timedelta(hours=20)
    Schedule.objects.create(
        name=FULL_NAME,
        func="loyalty_lists.lists.tasks.sync_fanout",
        args="'full'",
        schedule_type=Schedule.DAILY,
        repeats=-1,
        next_run=tomorrow_3am,
    )

    assert f"{FULL_NAME}: updated" in run_command("ensure_schedules")

    full = Schedule.objects.get(name=FULL_NAME)
    assert (full.func, full.schedule_type) == ("loyalty_lists.lists.tasks.sync_fulls_due", Schedule.MINUTES)
    assert full.next_run <= timezone.now()


def test_ensure_schedules_follows_a_new_interval_without_moving_the_next_run(db, settings):
    run_command("ensure_schedules")
    next_run = Schedule.objects.get(name=DELTA_NAME).next_run
    settings.SYNC_INTERVAL_MINUTES = 30
    assert f"{DELTA_NAME}: updated" in run_command("ensure_schedules")
    delta = Schedule.objects.get(name=DELTA_NAME)
    assert (delta.minutes, delta.next_run) == (30, next_run)


def test_ensure_schedules_refuses_a_queue_that_would_hand_out_a_sync_twice(db, settings):
    settings.Q_CLUSTER = dict(settings.Q_CLUSTER, retry=10, timeout=60)
    with pytest.raises(CommandError):
        run_command("ensure_schedules")
    assert not Schedule.objects.exists()


def test_sync_lists_runs_a_cycle_with_progress_and_a_summary(smile, make_list, merchant, monkeypatch):
    import integrations.smile.services as client_module

    smile.add_many(3)
    make_list("all_members", name="Members")
    monkeypatch.setattr(client_module, "client_for_merchant", lambda merchant, correlation_id=None: smile)

    out = run_command("sync_lists", "--merchant", merchant.slug, "--full")

    run = SyncRun.objects.get()
    assert (run.kind, run.status) == ("full", "succeeded")
    assert f"customers {run.customers_fetched}" in out and "lists published 1/1" in out
    assert f"Run #{run.pk}: Full reconcile — succeeded" in out
    assert "- Members: Published (+3 -0 ~0)" in out


def test_sync_lists_exits_non_zero_when_the_run_fails(merchant):
    with pytest.raises(SystemExit) as exit_info:
        run_command("sync_lists", "--merchant", merchant.slug)
    assert exit_info.value.code == 1
    assert SyncRun.objects.get().status == "failed"


def test_sync_lists_names_an_unknown_merchant(db):
    with pytest.raises(CommandError, match="nope"):
        run_command("sync_lists", "--merchant", "nope")
