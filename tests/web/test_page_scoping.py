"""Every admin page renders for its merchant and answers 404 for another merchant's ids."""

import pytest
from django.urls import get_resolver
from django.utils import timezone

from loyalty_lists.lists.models import ListRunResult, SyncRun

from .conftest import make_items, make_list


@pytest.fixture
def objects(merchant):
    lst = make_list(merchant, "Mine")
    make_items(lst, [{"email": "ann@example.com"}])
    run = SyncRun.objects.create(merchant=merchant, kind="delta", status="held", started_at=timezone.now())
    hold = ListRunResult.objects.create(
        merchant=merchant, run=run, list=lst, outcome="held", removed=1, list_size=1, decision="pending"
    )
    return lst, run, hold


def pages(lst, run):
    return [
        "/",
        "/lists/",
        "/lists/new/",
        "/lists/preview/?audience=all_members",
        f"/lists/{lst.pk}/",
        f"/lists/{lst.pk}/edit/",
        f"/lists/{lst.pk}/delete/",
        f"/lists/{lst.pk}/export.csv",
        "/runs/",
        f"/runs/{run.pk}/",
        "/runs/progress/",
        "/shoppers/",
        "/shoppers/?email=ann@example.com",
        "/api-keys/",
    ]


def test_every_page_renders_for_its_merchant(staff, objects):
    lst, run, _ = objects
    for url in pages(lst, run):
        response = staff.get(url)
        assert response.status_code == 200, url


def test_every_id_of_another_merchant_is_a_404(client, merchant_b, objects):
    lst, run, hold = objects
    client.force_login(merchant_b[1])  # signed in, but for the other merchant
    for url in [
        f"/lists/{lst.pk}/",
        f"/lists/{lst.pk}/edit/",
        f"/lists/{lst.pk}/delete/",
        f"/lists/{lst.pk}/export.csv",
        f"/runs/{run.pk}/",
    ]:
        assert client.get(url).status_code == 404, url
    for url in [
        f"/lists/{lst.pk}/delete/",
        f"/lists/{lst.pk}/held/{hold.pk}/approve",
        f"/lists/{lst.pk}/held/{hold.pk}/discard",
        f"/lists/{lst.pk}/edit/",
    ]:
        assert client.post(url, {"name": "x", "audience": "all_members"}).status_code == 404, url
    body = client.get("/shoppers/?email=ann@example.com").content.decode()
    assert "Mine" not in body and "In 0 of 0 lists" in body
    assert "Mine" not in client.get("/lists/").content.decode()
    assert f"#{run.pk}<" not in client.get("/runs/").content.decode()
    hold.refresh_from_db()
    lst.refresh_from_db()
    assert hold.decision == "pending" and lst.name == "Mine"


def test_every_web_url_is_covered_here():
    web = next(p for p in get_resolver().url_patterns if getattr(p, "app_name", None) == "web")
    names = {pattern.name for pattern in web.url_patterns}
    assert names == {
        "home",
        "list_index",
        "list_create",
        "list_preview",
        "list_detail",
        "list_edit",
        "list_delete",
        "list_export",
        "held_approve",
        "held_discard",
        "run_index",
        "sync_progress",
        "run_detail",
        "sync_now",
        "shopper",
        "api_keys",
        "api_key_revoke",
    }


def test_anonymous_visitors_are_sent_to_log_in_everywhere(client, objects):
    lst, run, _ = objects
    for url in pages(lst, run):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
