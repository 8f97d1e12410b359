"""Sync history, a run's changes, the self-updating progress partial and Sync now."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty_lists.lists import services
from loyalty_lists.lists.models import SyncLease, SyncRun

from .conftest import connect, make_list, row_with, start_run


@pytest.fixture
def history(merchant, smile, cycle):
    """Three real cycles: a first full sync, a tier change, a failure."""
    gold = smile.add_tier("Gold", 500)
    silver = smile.add_tier("Silver", 100)
    ids = smile.add_many(5, tier=silver)
    members = services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    golds = make_list(merchant, "Gold VIPs", audience="vip_tier", tier=gold)
    first = cycle()
    smile.update(ids[0], tier=gold)
    smile.update(ids[1], state="disabled")
    second = cycle()
    smile.fail_at(1)
    third = cycle()
    assert (first.status, second.status, third.status) == ("succeeded", "succeeded", "failed")
    return members, golds, first, second, third, ids


def test_the_history_lists_runs_newest_first_with_their_numbers(staff, history):
    members, golds, first, second, third, _ = history
    body = staff.get("/runs/").content.decode()
    assert body.index(f">#{third.pk}<") < body.index(f">#{second.pk}<") < body.index(f">#{first.pk}<")
    row = row_with(body, f">#{first.pk}<")
    assert (
        "Full reconcile" in row and "Succeeded" in row and 'Members: <span class="delta">+5 / −0 / ~0' in row
    )
    row = row_with(body, f">#{second.pk}<")
    assert "Delta" in row and 'Members: <span class="delta">+0 / −1 / ~1' in row
    assert 'Gold VIPs: <span class="delta">+1 / −0 / ~0' in row
    row = row_with(body, f">#{third.pk}<")
    assert "Failed" in row and "Smile is unavailable (injected)" in row
    assert re.search(r'<td class="num">[\d.]+ s</td>', row)  # duration


def test_a_delta_that_found_no_change_says_so_in_the_history_and_on_its_page(staff, history, cycle):
    quiet = cycle()
    assert quiet.status == "succeeded" and not quiet.list_results.exists()
    row = row_with(staff.get("/runs/").content.decode(), f">#{quiet.pk}<")
    assert "Delta" in row and "No changes in Smile" in row
    page = staff.get(f"/runs/{quiet.pk}/").content.decode()
    assert "Nothing had changed in Smile since the last sync" in page


def test_the_history_filters_by_kind(staff, history):
    _, _, first, second, *_ = history
    body = staff.get("/runs/", {"kind": "full"}).content.decode()
    assert f">#{first.pk}<" in body and f">#{second.pk}<" not in body


def test_the_history_pages_with_keyset_cursors(staff, merchant, monkeypatch):
    monkeypatch.setattr("loyalty_lists.web.views.runs.RUNS_PER_PAGE", 2)
    now = timezone.now()
    runs = [
        SyncRun.objects.create(
            merchant=merchant, kind="delta", status="succeeded", started_at=now - timedelta(minutes=n)
        )
        for n in range(5)
    ]
    seen, url = [], "/runs/"
    while url:
        body = staff.get(url).content.decode()
        seen += [int(pk) for pk in re.findall(r'<th scope="row"><a href="/runs/(\d+)/">', body)]
        match = re.search(r'<a href="([^"]+)" rel="next">', body)
        url = "/runs/" + match.group(1).replace("&amp;", "&") if match else None
    assert seen == [r.pk for r in runs]


def test_an_empty_history_explains_where_runs_come_from(staff):
    assert "No runs yet." in staff.get("/runs/").content.decode()


def test_a_runs_detail_lists_its_changes(staff, history):
    members, golds, first, second, _, ids = history
    body = staff.get(f"/runs/{second.pk}/").content.decode()
    assert "Delta run #" in body
    assert "shopper1@example.com" in row_with(body, ">Left<")
    tier_up = row_with(body, ">Tier up<")
    assert "shopper0@example.com" in tier_up and "Silver → Gold" in tier_up
    assert "shopper0@example.com" in row_with(body, ">Joined<")  # joined the Gold list
    filtered = staff.get(f"/runs/{second.pk}/", {"list": golds.pk}).content.decode()
    assert 'badge ok">Joined<' in filtered and 'badge bad">Left<' not in filtered
    only_left = staff.get(f"/runs/{second.pk}/", {"change": "left"}).content.decode()
    assert 'badge bad">Left<' in only_left and 'badge ok">Joined<' not in only_left


def test_a_failed_runs_detail_shows_the_error_and_that_no_list_changed(staff, history):
    *_, third, _ = history
    body = staff.get(f"/runs/{third.pk}/").content.decode()
    assert "Smile is unavailable (injected)" in body and "A failed run changes no list" in body


def test_another_merchants_run_is_a_404(staff, other_merchant):
    run = SyncRun.objects.create(merchant=other_merchant, kind="delta", started_at=timezone.now())
    assert staff.get(f"/runs/{run.pk}/").status_code == 404


# --- progress ------------------------------------------------------------------------------------------
def test_the_progress_partial_polls_while_a_run_is_running(staff, merchant):
    make_list(merchant)
    make_list(merchant, "Second")
    start_run(merchant, pages_fetched=4, customers_fetched=1000, lists_published=1)
    body = staff.get("/runs/progress/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in body and 'hx-get="/runs/progress/?watching=1"' in body
    assert "<progress" in body and 'data-state="running"' in body
    assert 'id="pages-fetched">4<' in body and 'id="customers-fetched">1,000<' in body
    assert 'id="lists-published">1 of 2<' in body


def test_the_bar_estimates_a_full_run_from_the_previous_one(staff, merchant):
    now = timezone.now()
    SyncRun.objects.create(
        merchant=merchant,
        kind="full",
        status="succeeded",
        started_at=now - timedelta(days=1),
        finished_at=now - timedelta(days=1),
        customers_fetched=4000,
    )
    start_run(merchant, "full", customers_fetched=1000)
    body = staff.get("/runs/progress/").content.decode()
    assert 'value="25"' in body


def test_the_progress_partial_stops_polling_once_the_run_is_done(staff, merchant):
    run = SyncRun.objects.create(merchant=merchant, kind="delta", started_at=timezone.now())
    run.status, run.finished_at, run.pages_fetched = "succeeded", timezone.now(), 2
    run.save()
    response = staff.get("/runs/progress/?watching=1&refresh=1", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "hx-trigger" not in body and "<progress" not in body
    assert "Succeeded" in body and 'data-state="idle"' in body
    assert response["HX-Refresh"] == "true"  # the page asked to reload when its watched run finished


def test_a_page_not_watching_is_not_reloaded(staff, merchant):
    SyncRun.objects.create(merchant=merchant, kind="delta", status="succeeded", started_at=timezone.now())
    assert "HX-Refresh" not in staff.get("/runs/progress/?refresh=1", HTTP_HX_REQUEST="true")


def test_a_failed_last_run_shows_its_error_and_the_last_good_sync(staff, merchant):
    now = timezone.now()
    SyncRun.objects.create(
        merchant=merchant,
        kind="delta",
        status="succeeded",
        started_at=now - timedelta(hours=1),
        finished_at=now - timedelta(hours=1),
    )
    SyncRun.objects.create(
        merchant=merchant,
        kind="delta",
        status="failed",
        started_at=now,
        finished_at=now,
        error_message="Smile is unavailable (HTTP 503)",
    )
    body = staff.get("/runs/progress/").content.decode()
    assert "The last sync failed:" in body and "Smile is unavailable (HTTP 503)" in body
    assert "Last good sync:" in body and "1\xa0hour ago" in body


def test_a_run_left_running_by_a_dead_worker_says_it_restarts_by_itself(staff, merchant):
    SyncRun.objects.create(merchant=merchant, kind="delta", started_at=timezone.now() - timedelta(hours=1))
    body = staff.get("/runs/progress/").content.decode()  # running, and nobody holds the lease
    assert "hx-trigger" not in body and "worker stopped without finishing" in body
    assert "a new sync resumes the work by itself" in body


# --- sync now ------------------------------------------------------------------------------------------
@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(
        "loyalty_lists.lists.services.sync_enqueue",
        lambda *, merchant, full=False: calls.append(merchant.pk) or (None, True),
    )
    return calls


def test_sync_now_queues_a_cycle_and_the_bar_waits_for_it(staff, merchant, connected):
    response = staff.post("/sync-now/", {"next": "/integrations/smile/"})
    assert response.status_code == 302 and response["Location"] == "/integrations/smile/"
    [queued] = SyncRun.objects.filter(merchant=merchant, status="queued")
    body = staff.get("/runs/progress/").content.decode()
    assert 'data-state="queued"' in body and "<progress" in body and 'hx-trigger="every 1s"' in body
    assert "waiting for a worker to start it" in body
    SyncRun.objects.filter(pk=queued.pk).update(status="running")  # the worker started it
    SyncLease.objects.create(merchant=merchant, holder="w", expires_at=timezone.now() + timedelta(minutes=5))
    assert 'data-state="running"' in staff.get("/runs/progress/").content.decode()


def test_sync_now_twice_queues_one_cycle_and_says_so(staff, merchant, connected):
    staff.post("/sync-now/")
    page = staff.post("/sync-now/", follow=True).content.decode()
    assert "A sync is already queued; it covers this." in page
    assert SyncRun.objects.filter(merchant=merchant, status="queued").count() == 1


def test_sync_now_while_a_sync_runs_is_queued_and_the_page_says_so(staff, merchant, connected):
    SyncRun.objects.create(merchant=merchant, kind="full", status="running", started_at=timezone.now())
    SyncLease.objects.create(merchant=merchant, holder="w", expires_at=timezone.now() + timedelta(minutes=5))
    staff.post("/sync-now/")
    body = staff.get("/runs/progress/").content.decode()
    assert 'data-state="running"' in body
    assert "Another sync is queued" in body and "it starts as soon as this one finishes" in body


def test_sync_now_behind_a_stopped_worker_is_queued_and_the_page_says_it_starts_by_itself(
    staff, merchant, connected
):
    SyncRun.objects.create(merchant=merchant, kind="full", status="running", started_at=timezone.now())
    SyncLease.objects.create(
        merchant=merchant, holder="dead", expires_at=timezone.now() - timedelta(seconds=5)
    )
    staff.post("/sync-now/")
    body = staff.get("/runs/progress/").content.decode()
    assert 'data-state="queued"' in body
    assert "worker stopped without finishing" in body and "the sync then starts by itself" in body


def test_sync_now_refuses_without_a_usable_connection(staff, merchant, enqueued):
    response = staff.post("/sync-now/", follow=True)
    assert "Connect Smile first." in response.content.decode() and enqueued == []
    connect(merchant, status="needs_reconnect")
    response = staff.post("/sync-now/", follow=True)
    assert "Reconnect Smile first" in response.content.decode() and enqueued == []


def test_sync_now_needs_post_and_ignores_foreign_redirects(staff, connected, enqueued):
    assert staff.get("/sync-now/").status_code == 405
    response = staff.post("/sync-now/", {"next": "https://evil.example/"})
    assert response["Location"] == "/runs/"


def test_sync_now_really_queues_a_task(staff, merchant, connected, django_capture_on_commit_callbacks):
    from django_q.models import OrmQ

    with django_capture_on_commit_callbacks(execute=True):
        staff.post("/sync-now/")
    assert OrmQ.objects.count() == 1
