"""Deliveries to a real local HTTP receiver: signed batches in sequence order, retries with backoff,
timeouts, automatic disable, secret rotation with overlap, one delivery in flight per endpoint, a dead
dispatcher's delivery sent again with the same webhook-id, filters and replays."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from loyalty_lists.lists.models import ListChange
from loyalty_lists.outbound import endpoints as services
from loyalty_lists.outbound.dispatch import dispatch_run, retry_delay
from loyalty_lists.outbound.feed import FIELDS, event_out
from loyalty_lists.outbound.models import Delivery, DeliveryAttempt, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast(settings):
    settings.OUTBOUND_BATCH_SIZE = 4
    settings.OUTBOUND_RETRY_DELAYS = [0, 0, 0]
    settings.OUTBOUND_TIMEOUT_SECONDS = 2


def feed_events(merchant, **filters) -> list[dict]:
    rows = ListChange.objects.filter(merchant=merchant, **filters).order_by("id").values_list(*FIELDS)
    return [event_out(row) for row in rows]


def test_changes_arrive_signed_in_ordered_batches_with_a_sequence(
    merchant, smile, run_cycle, make_list, receiver, fast
):
    endpoint, secret = services.endpoint_create(merchant=merchant, url=receiver.url)
    smile.add_many(10)
    make_list("all_members")
    run_cycle()

    assert dispatch_run(seconds=30) == {"idle": 1}

    payloads = receiver.verified(secret)  # standardwebhooks checks every signature
    assert [p["data"]["sequence"] for p in payloads] == [1, 2, 3]
    assert [len(p["data"]["events"]) for p in payloads] == [4, 4, 2]
    assert {p["type"] for p in payloads} == {"list.changes"}
    assert [e for p in payloads for e in p["data"]["events"]] == feed_events(merchant)
    assert len({r.message_id for r in receiver.requests}) == 3
    assert all(r.message_id.startswith("msg_") for r in receiver.requests)
    with pytest.raises(WebhookVerificationError):
        Webhook(services.secret_new()).verify(receiver.requests[0].body, receiver.requests[0].headers)
    attempt = DeliveryAttempt.objects.order_by("pk").first()
    assert attempt.status_code == 200 and attempt.latency_ms is not None and attempt.response_excerpt == "ok"


def test_an_endpoint_gets_only_the_changes_made_after_it_was_created(
    merchant, smile, run_cycle, make_list, receiver, fast
):
    smile.add_many(3)
    make_list("all_members")
    run_cycle()
    endpoint, secret = services.endpoint_create(merchant=merchant, url=receiver.url)
    dispatch_run(seconds=10)
    assert receiver.requests == []
    smile.update(1, points=5)
    run_cycle()
    dispatch_run(seconds=10)
    assert [e["kind"] for e in receiver.events(secret)] == ["metadata_changed"]


def test_short_backoffs_are_waited_out_in_the_same_run(
    merchant, smile, run_cycle, make_list, receiver, settings
):
    settings.OUTBOUND_RETRY_DELAYS = [1, 1, 60]
    endpoint, secret = services.endpoint_create(merchant=merchant, url=receiver.url)
    smile.add_many(1)
    make_list("all_members")
    run_cycle()
    receiver.status = 500

    assert dispatch_run(seconds=10) == {"waiting": 1}, "two short waits, then a long one: the schedule's"
    assert [r.status for r in receiver.requests] == [500, 500, 500]
    assert 1.5 < receiver.requests[2].at - receiver.requests[0].at < 4


def test_a_failing_receiver_gets_retries_then_every_change_in_order_with_the_same_webhook_id(
    merchant, smile, run_cycle, make_list, receiver, fast, settings
):
    settings.OUTBOUND_RETRY_DELAYS = [60, 60, 60]
    endpoint, secret = services.endpoint_create(merchant=merchant, url=receiver.url)
    smile.add_many(10)
    make_list("all_members")
    run_cycle()
    receiver.status = 500

    assert dispatch_run(seconds=10) == {"waiting": 1}
    head = Delivery.objects.get(sequence=1)
    assert head.status == "pending" and head.attempts == 1 and head.last_status_code == 500
    assert timedelta(seconds=47) < head.next_attempt_at - head.last_attempt_at < timedelta(seconds=73)
    assert Delivery.objects.count() == 1, "later batches wait behind the one in flight"
    assert dispatch_run(seconds=10) == {}, "nothing is due before the backoff"
    WebhookEndpoint.objects.update(dirty=True)
    assert dispatch_run(seconds=10) == {}, "new changes wait behind the delivery backing off"
    assert len(receiver.requests) == 1

    receiver.status = 200
    Delivery.objects.update(next_attempt_at=timezone.now())  # the backoff has passed
    dispatch_run(seconds=10)

    assert [r.status for r in receiver.requests] == [500, 200, 200, 200]
    assert receiver.requests[0].message_id == receiver.requests[1].message_id
    assert receiver.events(secret) == feed_events(merchant)
    assert WebhookEndpoint.objects.get().failing_since is None


def test_backoff_grows_with_jitter_over_about_three_days(settings):
    settings.OUTBOUND_RETRY_DELAYS = [5, 30, 120, 600, 1800, 3600, 10800, 21600, 43200, 86400, 86400]
    delays = [retry_delay(n) for n in range(1, 12)]
    assert all(a < b for a, b in zip(delays[:9], delays[1:10], strict=True))
    assert timedelta(days=2.3) < sum(delays, timedelta()) < timedelta(days=3.6)
    assert retry_delay(12) is None
    assert len({retry_delay(3) for _ in range(20)}) > 1, "jitter"


def test_a_receiver_that_does_not_answer_in_time_is_a_timeout(
    merchant, smile, run_cycle, make_list, receiver, fast, settings
):
    settings.OUTBOUND_TIMEOUT_SECONDS = 0.3
    settings.OUTBOUND_RETRY_DELAYS = [60]
    services.endpoint_create(merchant=merchant, url=receiver.url)
    smile.add_many(1)
    make_list("all_members")
    run_cycle()
    receiver.delay = 1.5

    assert dispatch_run(seconds=10) == {"waiting": 1}
    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and attempt.error == "Timed out." and attempt.latency_ms < 1500


def test_sustained_failure_disables_the_endpoint_and_enabling_it_resends_what_failed(
    merchant, smile, run_cycle, make_list, receiver, fast, mailoutbox
):
    from loyalty_lists.outbound.alerts import alerts_evaluate

    endpoint, secret = services.endpoint_create(merchant=merchant, url=receiver.url)
    smile.add_many(2)
    make_list("all_members")
    run_cycle()
    receiver.status = 503
    assert dispatch_run(seconds=10) == {"disabled": 1}  # 1 attempt + 3 retries (short waits: in one run)

    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_automatically
    assert "failed 4 times" in endpoint.disabled_reason and "HTTP 503" in endpoint.disabled_reason
    assert Delivery.objects.get().status == "failed"
    assert alerts_evaluate(merchant.pk) == (1, 0)
    assert [m.subject for m in mailoutbox] == ["[Shop] Webhook endpoint disabled"]
    assert dispatch_run(seconds=10) == {}, "a disabled endpoint gets nothing"

    receiver.status = 200
    services.endpoint_enable(endpoint=endpoint)
    dispatch_run(seconds=10)
    assert Delivery.objects.get().status == "delivered"
    assert receiver.events(secret) == feed_events(merchant)
    assert alerts_evaluate(merchant.pk) == (0, 1)
    assert mailoutbox[-1].subject == "[Shop] Resolved: Webhook endpoint disabled"


def test_during_a_rotation_deliveries_carry_a_signature_for_each_secret(
    merchant, smile, run_cycle, make_list, receiver, fast
):
    endpoint, old = services.endpoint_create(merchant=merchant, url=receiver.url)
    new = services.endpoint_secret_rotate(endpoint=endpoint)
    smile.add_many(1)
    make_list("all_members")
    run_cycle()
    dispatch_run(seconds=10)

    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(request.body, request.headers) == Webhook(new).verify(
        request.body, request.headers
    )

    WebhookEndpoint.objects.update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
    smile.update(1, points=3)
    run_cycle()
    dispatch_run(seconds=10)
    request = receiver.requests[-1]
    Webhook(new).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, request.headers)


def test_one_delivery_in_flight_per_endpoint_and_a_dead_dispatchers_delivery_is_sent_again(
    merchant, smile, run_cycle, make_list, receiver, fast
):
    endpoint, secret = services.endpoint_create(merchant=merchant, url=receiver.url)
    smile.add_many(2)
    make_list("all_members")
    run_cycle()
    from loyalty_lists.outbound.dispatch import batch_next

    delivery = batch_next(endpoint.pk)  # cut, then its dispatcher died while sending it
    WebhookEndpoint.objects.update(claimed_by="dead", claim_expires_at=timezone.now() + timedelta(minutes=1))
    assert dispatch_run(seconds=10) == {}, "someone has it in flight"
    assert receiver.requests == []

    WebhookEndpoint.objects.update(
        claim_expires_at=timezone.now() - timedelta(seconds=1)
    )  # its claim expired
    assert dispatch_run(seconds=10) == {"idle": 1}
    assert [r.message_id for r in receiver.requests] == [delivery.message_id]
    assert receiver.events(secret) == feed_events(merchant)


def test_an_endpoint_gets_only_its_event_types_and_lists(
    merchant, smile, run_cycle, make_list, receiver, fast
):
    smile.add_many(3)
    members, everyone = make_list("all_members"), make_list("members_and_candidates")
    endpoint, secret = services.endpoint_create(
        merchant=merchant, url=receiver.url, event_types=["left"], list_ids=[everyone.pk]
    )
    run_cycle()
    smile.update(1, state="disabled")
    run_cycle()
    dispatch_run(seconds=10)

    events = receiver.events(secret)
    assert [(e["kind"], e["list_id"]) for e in events] == [("left", everyone.pk)]
    assert WebhookEndpoint.objects.get().cursor == ListChange.objects.order_by("-pk").first().pk
    assert members.pk


def test_a_replay_sends_a_delivery_again_with_the_same_id_and_body(
    merchant, smile, run_cycle, make_list, receiver, fast
):
    endpoint, secret = services.endpoint_create(merchant=merchant, url=receiver.url)
    smile.add_many(1)
    make_list("all_members")
    run_cycle()
    dispatch_run(seconds=10)

    services.delivery_replay(delivery=Delivery.objects.get())
    dispatch_run(seconds=10)

    first, again = receiver.requests
    assert (first.message_id, first.body) == (again.message_id, again.body)
    assert [a.replay for a in DeliveryAttempt.objects.order_by("pk")] == [False, True]


def test_private_addresses_are_refused_when_saved_and_when_sent_in_production(
    merchant, smile, run_cycle, make_list, receiver, fast, settings
):
    endpoint, _ = services.endpoint_create(merchant=merchant, url=receiver.url)  # allowed in tests
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = False
    with pytest.raises(ValidationError, match="private, loopback or link-local"):
        services.endpoint_create(merchant=merchant, url="http://127.0.0.1:9/hooks")
    with pytest.raises(ValidationError, match="private, loopback or link-local"):
        services.endpoint_update(endpoint=endpoint, url="http://localhost/x")
    smile.add_many(1)
    make_list("all_members")
    run_cycle()
    settings.OUTBOUND_RETRY_DELAYS = [60]

    assert dispatch_run(seconds=10) == {"waiting": 1}
    assert receiver.requests == []
    assert DeliveryAttempt.objects.get().error.startswith("Refused: The host 127.0.0.1 resolves to a private")
