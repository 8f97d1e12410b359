"""Alerts people receive: one mail when a condition starts and one when it is over, to staff who did not
opt out; notices on the overview."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from integrations.smile.models import SmileConnection
from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListRunResult, SyncRun
from loyalty_lists.merchants.models import Membership
from loyalty_lists.outbound.alerts import alert_emails_set, alerts_evaluate, alerts_evaluate_all
from loyalty_lists.outbound.models import Alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def connected(merchant):
    connection, _ = SmileConnection.objects.update_or_create(
        merchant=merchant, defaults={"status": SmileConnection.Status.CONNECTED}
    )
    return connection


def subjects(outbox) -> list[str]:
    return [m.subject for m in outbox]


def test_a_connection_that_needs_reconnecting_mails_once_until_it_is_resolved(
    merchant, connected, mailoutbox, client
):
    SmileConnection.objects.update(status="needs_reconnect", last_error_message="Token refresh failed")
    assert alerts_evaluate(merchant.pk) == (1, 0)
    assert alerts_evaluate(merchant.pk) == (0, 0)
    assert alerts_evaluate_all() == {"merchants": 1, "opened": 0, "resolved": 0}
    (message,) = mailoutbox
    assert message.subject == "[Shop] Smile connection needs reconnecting"
    assert message.to == ["admin@shop.example"] and "Token refresh failed" in message.body
    assert "http://127.0.0.1:8000/integrations/smile/" in message.body and "/alerts/" in message.body

    user = Membership.objects.get(merchant=merchant).user
    client.force_login(user)
    page = client.get("/").content.decode()
    assert "Smile connection needs reconnecting" in page and "Alert" in page

    SmileConnection.objects.update(status="connected")
    assert alerts_evaluate(merchant.pk) == (0, 1)
    assert subjects(mailoutbox)[1:] == ["[Shop] Resolved: Smile connection needs reconnecting"]
    assert "Resolved" in client.get("/").content.decode()

    SmileConnection.objects.update(status="needs_reconnect")  # again: a new alert, a new mail
    alerts_evaluate(merchant.pk)
    assert len(mailoutbox) == 3 and Alert.objects.count() == 2


def test_stale_lists_and_held_runs_are_one_alert_each(
    merchant, connected, smile, run_cycle, make_list, mailoutbox
):
    gold = smile.add_tier("Gold", 100)
    smile.add_many(3, tier=gold)
    make_list("vip_tier", gold, name="Gold")
    members = make_list("all_members", name="Members")
    run_cycle()
    smile.delete_tier(gold)
    run_cycle()
    ListRunResult.objects.create(
        merchant=merchant,
        run=SyncRun.objects.create(merchant=merchant, kind="delta", status="held", started_at=timezone.now()),
        list=members,
        outcome="held",
        removed=60,
        list_size=100,
        decision="pending",
    )

    assert alerts_evaluate(merchant.pk) == (2, 0)
    assert sorted(subjects(mailoutbox)) == [
        "[Shop] List “Gold” is stale",
        "[Shop] List “Members” is held for approval",
    ]
    services.held_run_discard(result=ListRunResult.objects.get(decision="pending"))
    assert alerts_evaluate(merchant.pk) == (0, 1)
    assert subjects(mailoutbox)[-1] == "[Shop] Resolved: List “Members” is held for approval"


def test_syncs_failing_for_more_than_n_intervals(merchant, connected, settings, mailoutbox):
    settings.SYNC_INTERVAL_MINUTES, settings.ALERT_FAILING_SYNC_INTERVALS = 15, 3
    now = timezone.now()

    def run(status, minutes_ago, error=""):
        at = now - timedelta(minutes=minutes_ago)
        return SyncRun.objects.create(
            merchant=merchant, kind="delta", status=status, started_at=at, finished_at=at, error_message=error
        )

    run("succeeded", 40)
    run("failed", 25, "Smile is unavailable (HTTP 503)")
    run("failed", 10, "Smile is unavailable (HTTP 503)")
    assert alerts_evaluate(merchant.pk, now=now) == (0, 0), "40 minutes are not three intervals"
    assert alerts_evaluate(merchant.pk, now=now + timedelta(minutes=6)) == (1, 0)
    assert "HTTP 503" in mailoutbox[0].body and mailoutbox[0].subject == "[Shop] Syncs keep failing"
    run("succeeded", -7)
    assert alerts_evaluate(merchant.pk, now=now + timedelta(minutes=8)) == (0, 1)


def test_staff_who_opted_out_get_no_mail_and_others_still_do(
    merchant, connected, merchant_factory, mailoutbox
):
    from django.contrib.auth import get_user_model

    colleague = get_user_model().objects.create_user(email="colleague@shop.example", password="x" * 12)
    Membership.objects.create(merchant=merchant, user=colleague)
    admin = Membership.objects.get(merchant=merchant, role="owner").user
    alert_emails_set(merchant=merchant, user=admin, on=False)
    SmileConnection.objects.update(status="needs_reconnect")

    alerts_evaluate(merchant.pk)
    assert [m.to for m in mailoutbox] == [["colleague@shop.example"]]

    alert_emails_set(merchant=merchant, user=admin, on=True)
    SmileConnection.objects.update(status="connected")
    alerts_evaluate(merchant.pk)
    assert sorted(m.to[0] for m in mailoutbox[1:]) == ["admin@shop.example", "colleague@shop.example"]


def test_a_mail_that_could_not_be_sent_is_sent_by_the_next_evaluation(
    merchant, connected, settings, monkeypatch
):
    SmileConnection.objects.update(status="needs_reconnect")

    def refuse(self, messages):
        raise ConnectionRefusedError("SMTP is down")

    from django.core.mail.backends.locmem import EmailBackend

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    alerts_evaluate(merchant.pk)
    assert Alert.objects.get().opened_mail_at is None
    monkeypatch.undo()
    alerts_evaluate(merchant.pk)
    assert len(mail.outbox) == 1 and Alert.objects.get().opened_mail_at is not None


def test_list_events_ask_for_an_evaluation_after_commit(
    merchant, smile, run_cycle, make_list, django_capture_on_commit_callbacks, monkeypatch
):
    from loyalty_lists.outbound import alerts

    sent = []
    monkeypatch.setattr(alerts, "async_task", lambda func, *args, **kwargs: sent.append((func, args)))
    gold = smile.add_tier("Gold", 100)
    smile.add_many(2, tier=gold)
    make_list("vip_tier", gold, name="Gold")
    run_cycle()
    assert sent == []
    smile.delete_tier(gold)
    with django_capture_on_commit_callbacks(execute=True):
        run_cycle()
    assert sent == [(alerts.TASK, (merchant.pk,))]
