"""List detail: columns, search / filter / sort, the chart, the stale banner, held runs (approve /
discard) — with data from real sync cycles against the in-memory Smile where it matters."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListItem, ListRunResult

from .conftest import T0, make_items, make_list, make_tier, row_with


@pytest.fixture
def gold_list(merchant):
    make_tier(merchant, 7, "Gold")
    lst = make_list(merchant, "Gold VIPs", audience="vip_tier", tier=7)
    make_items(
        lst,
        [
            {
                "email": "ann@example.com",
                "points_balance": 1500,
                "vip_tier_id": 7,
                "vip_tier_name": "Gold",
                "vip_tier_expires_at": T0 + timedelta(days=300),
                "loyalty_member_since": T0,
            },
            {
                "email": "bob@example.com",
                "points_balance": 20,
                "state": "candidate",
                "vip_tier_id": 7,
                "vip_tier_name": "Gold",
            },
            {
                "email": "=cmd@example.com",
                "points_balance": 300,
                "vip_tier_id": 7,
                "vip_tier_name": "Gold",
                "loyalty_member_since": T0 + timedelta(days=1),
            },
        ],
    )
    return lst


def test_it_shows_the_members_with_their_loyalty_metadata(staff, gold_list):
    body = staff.get(f"/lists/{gold_list.pk}/").content.decode()
    for header in ["Email", "Points balance", "VIP tier", "Tier expires", "State", "Member since"]:
        assert header in body
    row = row_with(body, "ann@example.com")
    assert (
        "1,500" in row and "Gold" in row and "26 Dec 2024" in row and "Member" in row and "1 Mar 2024" in row
    )
    assert "Candidate" in row_with(body, "bob@example.com")
    assert 'id="member-count">3<' in body
    assert "Shoppers in the VIP tier Gold who are not disabled" in body


def test_times_are_shown_in_the_merchants_time_zone(staff, merchant, gold_list):
    merchant.timezone = "Pacific/Auckland"  # UTC+13 in March: 2024-03-01 12:00 UTC is March 2nd there
    merchant.save()
    row = row_with(staff.get(f"/lists/{gold_list.pk}/").content.decode(), "ann@example.com")
    assert ">2 Mar 2024<" in row and 'datetime="2024-03-01T12:00:00Z"' in row


def test_another_merchants_list_is_a_404(staff, other_merchant):
    lst = make_list(other_merchant, "Theirs")
    for url in [f"/lists/{lst.pk}/", f"/lists/{lst.pk}/export.csv"]:
        assert staff.get(url).status_code == 404


def test_an_unknown_list_is_a_404(staff):
    assert staff.get("/lists/999999/").status_code == 404


@pytest.mark.parametrize(
    "params, shown",
    [
        ({"q": "AN"}, {"ann@"}),
        ({"q": "  b"}, {"bob@"}),
        ({"q": "=c"}, {"=cmd@"}),
        ({"state": "candidate"}, {"bob@"}),
        ({"state": "member"}, {"ann@", "=cmd@"}),
        ({"tier": "7"}, {"ann@", "bob@", "=cmd@"}),
        ({"tier": "none"}, set()),
        ({"q": "zzz"}, set()),
    ],
)
def test_search_by_email_and_filter_by_state_and_tier(staff, gold_list, params, shown):
    body = staff.get(f"/lists/{gold_list.pk}/", params).content.decode()
    for email in ["ann@", "bob@", "=cmd@"]:
        assert (f">{email}example.com<" in body) == (email in shown), email
    if not shown:
        assert "No members match these filters." in body


@pytest.mark.parametrize(
    "sort, order",
    [
        ("email", ["=cmd@", "ann@", "bob@"]),
        ("-email", ["bob@", "ann@", "=cmd@"]),
        ("-points", ["ann@", "=cmd@", "bob@"]),
        ("points", ["bob@", "=cmd@", "ann@"]),
        ("member_since", ["ann@", "=cmd@", "bob@"]),  # no member-since date: last
        ("-member_since", ["=cmd@", "ann@", "bob@"]),
    ],
)
def test_sorting_by_email_points_and_member_since(staff, gold_list, sort, order):
    body = staff.get(f"/lists/{gold_list.pk}/", {"sort": sort}).content.decode()
    positions = [body.index(f">{email}example.com<") for email in order]
    assert positions == sorted(positions)


def test_the_column_headers_sort_and_say_how(staff, gold_list):
    body = staff.get(f"/lists/{gold_list.pk}/", {"sort": "-points", "q": "a"}).content.decode()
    assert 'aria-sort="descending"' in body
    assert 'href="?sort=points&amp;q=a"' in body  # toggles the direction, keeps the search


def test_a_list_that_never_synced_says_it_fills_at_the_next_sync(staff, merchant):
    lst = make_list(merchant, "New")
    body = staff.get(f"/lists/{lst.pk}/").content.decode()
    assert "This list fills at the next sync." in body
    assert "No sync has included this list yet." in body


def test_an_empty_published_list_says_so(staff, merchant):
    lst = make_list(merchant, "Empty", last_published_at=timezone.now(), published_seq=3)
    assert "Nobody is in this list right now." in staff.get(f"/lists/{lst.pk}/").content.decode()


def test_the_stale_banner_gives_the_reason_and_the_ways_out(staff, merchant):
    lst = make_list(
        merchant,
        "Bronze",
        audience="vip_tier",
        tier=5,
        stale_since=timezone.now() - timedelta(hours=2, minutes=1),
        stale_reason="The VIP tier “Bronze” (#5) no longer exists in Smile; the list is frozen.",
        last_published_at=timezone.now() - timedelta(days=1),
    )
    body = staff.get(f"/lists/{lst.pk}/").content.decode()
    banner = body[body.index('id="stale-banner"') :]
    banner = banner[: banner.index("</div>")]
    assert (
        "“Bronze” (#5) no longer exists in Smile" in banner and "2\xa0hours ago" in banner
    )  # timesince keeps number and unit together
    assert f'href="/lists/{lst.pk}/edit/">Pick another tier<' in banner
    assert f'href="/lists/{lst.pk}/delete/"' in banner


# --- real cycles: stale, held, chart -------------------------------------------------------------------
def test_a_tier_deleted_in_smile_makes_the_list_stale_after_the_next_cycle(staff, merchant, smile, cycle):
    gold = smile.add_tier("Gold", 500)
    smile.add_many(3, tier=gold)
    lst = make_list(merchant, "Gold", audience="vip_tier", tier=gold)
    assert cycle().status == "succeeded"
    assert "stale-banner" not in staff.get(f"/lists/{lst.pk}/").content.decode()
    smile.delete_tier(gold)
    cycle()
    body = staff.get(f"/lists/{lst.pk}/").content.decode()
    assert 'id="stale-banner"' in body and "“Gold”" in body and "no longer exists in Smile" in body
    assert body.count(">example.com<") == 0 and body.count("@example.com") >= 3  # members are kept


@pytest.fixture
def held(merchant, smile, cycle, settings):
    """A members list of 10 whose next cycle would remove 6: held for approval."""
    settings.SYNC_REMOVAL_GUARDRAIL_MIN_ITEMS = 5
    ids = smile.add_many(10)
    lst = services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    assert cycle().status == "succeeded"
    for cid in ids[:6]:
        smile.update(cid, state="disabled")
    run = cycle()
    assert run.status == "held"
    return lst, ListRunResult.objects.get(run=run, list=lst)


def test_a_held_run_shows_a_banner_with_approve_and_discard(staff, held):
    lst, hold = held
    body = staff.get(f"/lists/{lst.pk}/").content.decode()
    assert (
        "A sync is held for your approval." in body and "<strong>6</strong> of the list’s 10 members" in body
    )
    assert f'action="/lists/{lst.pk}/held/{hold.pk}/approve"' in body
    assert f'action="/lists/{lst.pk}/held/{hold.pk}/discard"' in body


def test_approving_a_held_run_publishes_the_removals(staff, user, held):
    lst, hold = held
    response = staff.post(f"/lists/{lst.pk}/held/{hold.pk}/approve", follow=True)
    assert "Approved: the held changes are published." in response.content.decode()
    assert ListItem.objects.filter(list=lst).count() == 4
    hold.refresh_from_db()
    assert (hold.decision, hold.decided_by) == ("approved", user)
    assert "A sync is held" not in response.content.decode()


def test_discarding_a_held_run_keeps_the_list(staff, held):
    lst, hold = held
    response = staff.post(f"/lists/{lst.pk}/held/{hold.pk}/discard", follow=True)
    assert "Discarded" in response.content.decode()
    assert ListItem.objects.filter(list=lst).count() == 10
    hold.refresh_from_db()
    assert hold.decision == "discarded"


def test_a_held_run_can_be_decided_only_once(staff, held):
    lst, hold = held
    staff.post(f"/lists/{lst.pk}/held/{hold.pk}/discard")
    response = staff.post(f"/lists/{lst.pk}/held/{hold.pk}/approve", follow=True)
    assert "already discarded" in response.content.decode()
    assert ListItem.objects.filter(list=lst).count() == 10


def test_held_runs_need_post_and_the_right_list_and_merchant(staff, merchant, other_merchant, held):
    lst, hold = held
    assert staff.get(f"/lists/{lst.pk}/held/{hold.pk}/approve").status_code == 405
    other_list = make_list(merchant, "Other")
    assert staff.post(f"/lists/{other_list.pk}/held/{hold.pk}/approve").status_code == 404
    foreign = make_list(other_merchant, "Theirs")
    assert staff.post(f"/lists/{foreign.pk}/held/{hold.pk}/approve").status_code == 404
    hold.refresh_from_db()
    assert hold.decision == "pending"


def test_someone_from_another_merchant_cannot_decide_a_held_run(client, merchant_b, held):
    lst, hold = held
    client.force_login(merchant_b[1])
    assert client.post(f"/lists/{lst.pk}/held/{hold.pk}/approve").status_code == 404
    hold.refresh_from_db()
    assert hold.decision == "pending"


def test_the_chart_draws_the_member_count_after_each_run(staff, merchant, smile, cycle):
    ids = smile.add_many(4)
    lst = services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    cycle()
    smile.add_many(2)
    cycle()
    smile.update(ids[0], state="disabled")
    cycle()
    body = staff.get(f"/lists/{lst.pk}/").content.decode()
    svg = body[body.index("<svg") : body.index("</svg>")]
    assert 'role="img"' in svg and 'aria-labelledby="chart-title chart-desc"' in svg
    assert '<title id="chart-title">' in svg
    assert "4 after run" in svg and "5 after run" in svg and "highest 6" in svg
    assert svg.count("<circle") == 3 and "<polyline" in svg
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing loaded


def test_a_single_run_draws_one_dot_and_no_line(staff, merchant, smile, cycle):
    smile.add_many(2)
    lst = services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    cycle()
    body = staff.get(f"/lists/{lst.pk}/").content.decode()
    svg = body[body.index("<svg") : body.index("</svg>")]
    assert svg.count("<circle") == 1 and "<polyline" not in svg and "2 members (+2 −0)" in svg
    assert "after the only run so far" in body and "last 1 runs" not in body


def test_no_template_has_inline_script_style_or_event_handler():
    from django.conf import settings

    for path in (settings.BASE_DIR / "templates").rglob("*.html"):
        text = re.sub(r"\{#.*?#\}", "", path.read_text())  # template comments may name what they avoid
        # a script only from a file (``<script src="{% static ... %}">``): the CSP refuses inline code
        assert not re.search(r"<script(?![^>]*\ssrc=)|<style|\sstyle=|\son[a-z]+=", text), path


def test_who_decided_a_held_run_and_when_is_shown_on_the_list_and_in_the_history(staff, user, held):
    lst, hold = held
    staff.post(f"/lists/{lst.pk}/held/{hold.pk}/approve")
    body = staff.get(f"/lists/{lst.pk}/").content.decode()
    decided = body[body.index('id="decided-holds"') :]
    assert f"Run #{hold.run_id}</a> would have removed 6 of 10 members: <strong>approved</strong>" in decided
    assert f"by {user.email}" in decided and re.search(
        r'<time datetime="[^"]+Z">[^<]+<span class="hint"> · ', decided
    )
    history = staff.get("/runs/").content.decode()
    assert f"approved by {user.email}" in history and 'class="decided-at"' in history
    detail = staff.get(f"/runs/{hold.run_id}/").content.decode()
    assert f"Approved by {user.email}, <time" in detail


def _tier_options(staff, lst):
    body = staff.get(f"/lists/{lst.pk}/").content.decode()
    select = body[body.index('name="tier"') : body.index("</select>", body.index('name="tier"'))]
    return re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', select)


def test_the_tier_filter_lists_a_re_created_tier_once(staff, merchant, smile, cycle):
    """A tier deleted and re-created in Smile (a new id, the same name): one "Gold" in the filter."""
    gold = smile.add_tier("Gold", 500)
    shopper = smile.add("ann@example.com", tier=gold)
    members = services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    assert cycle().status == "succeeded"
    smile.delete_tier(gold)
    new_gold = smile.add_tier("Gold", 500)
    smile.update(shopper, tier=new_gold)
    assert cycle().status == "succeeded"
    assert _tier_options(staff, members) == [(str(new_gold), "Gold")]


def test_a_vanished_tier_is_offered_only_where_items_still_carry_it_and_says_so(
    staff, merchant, smile, cycle
):
    gold, silver = smile.add_tier("Gold", 500), smile.add_tier("Silver", 100)
    shopper = smile.add("ann@example.com", tier=silver)
    members = services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    frozen = make_list(merchant, "Silver VIPs", audience="vip_tier", tier=silver)
    assert cycle().status == "succeeded"
    smile.delete_tier(silver)
    smile.update(shopper, tier=gold)
    assert cycle().status == "succeeded"
    frozen.refresh_from_db()
    assert frozen.is_stale  # its members are kept as they were, with their Silver tier
    assert _tier_options(staff, members) == [(str(gold), "Gold")]
    assert _tier_options(staff, frozen) == [(str(gold), "Gold"), (str(silver), "Silver (no longer in Smile)")]


def test_a_filtered_view_counts_its_matches_and_says_which_rows_it_shows(staff, merchant, monkeypatch):
    monkeypatch.setattr("loyalty_lists.web.views.list_detail.PAGE_SIZE", 5)
    lst = make_list(merchant, "Many")
    make_items(lst, [{"email": f"{'lopez' if n % 2 else 'smith'}{n:02d}@example.org"} for n in range(23)])
    body = staff.get(f"/lists/{lst.pk}/", {"q": "LOPEZ"}).content.decode()
    assert "<strong>11</strong> members match" in body and "1–5 of 11" in body
    assert ">Export 11 shoppers</a>" in body
    next_link = re.search(r'<a href="([^"]+)" rel="next">', body).group(1).replace("&amp;", "&")
    assert "start=6" in next_link
    second = staff.get(f"/lists/{lst.pk}/{next_link}").content.decode()
    assert "6–10 of 11" in second
    prev_link = re.search(r'<a href="([^"]+)" rel="prev">', second).group(1).replace("&amp;", "&")
    assert "1–5 of 11" in staff.get(f"/lists/{lst.pk}/{prev_link}").content.decode()
    unfiltered = staff.get(f"/lists/{lst.pk}/").content.decode()
    assert "<strong>23</strong> members" in unfiltered and "1–5 of 23" in unfiltered
    assert ">Export 23 shoppers</a>" in unfiltered


def test_a_count_beyond_the_cap_says_more_than(staff, merchant, monkeypatch):
    monkeypatch.setattr("loyalty_lists.web.selectors.COUNT_CAP", 3)
    monkeypatch.setattr("loyalty_lists.web.views.list_detail.PAGE_SIZE", 2)
    lst = make_list(merchant, "Many")
    make_items(lst, [{"email": f"x{n}@example.org"} for n in range(5)])
    body = staff.get(f"/lists/{lst.pk}/", {"q": "x"}).content.decode()
    assert "More than 3</strong> members match" in body and ">Export all 3+ shoppers</a>" in body


def test_the_search_finds_any_part_of_the_email(staff, merchant):
    lst = make_list(merchant, "Mixed")
    make_items(lst, [{"email": "ana.lopez@example.org"}, {"email": "bob@example.com"}, {"email": "lo@x.io"}])
    for text, shown in [
        ("lopez", {"ana.lopez@"}),
        ("@EXAMPLE.ORG", {"ana.lopez@"}),
        ("lo", {"ana.lopez@", "lo@"}),
    ]:
        body = staff.get(f"/lists/{lst.pk}/", {"q": text}).content.decode()
        for email in ["ana.lopez@", "bob@", "lo@"]:
            assert (f">{email}" in body) == (email in shown), (text, email)
    assert "100%" not in staff.get(f"/lists/{lst.pk}/", {"q": "%"}).content.decode()
    assert "members match" in staff.get(f"/lists/{lst.pk}/", {"q": "_"}).content.decode()
    body = staff.get(f"/lists/{lst.pk}/", {"q": "%"}).content.decode()
    assert "No members match these filters." in body  # LIKE wildcards are searched for literally


def test_the_chart_survives_thousands_of_webhook_runs_and_a_flat_series(staff, merchant):
    """Webhook refreshes once recorded lists of size 0: after 30 of them every point was -1 and the
    page crashed (ZeroDivisionError)."""
    from loyalty_lists.lists.models import ListRunResult, SyncRun
    from loyalty_lists.web.chart import member_count_chart
    from loyalty_lists.web.selectors import list_size_history

    lst = make_list(merchant, "Gold")
    runs = SyncRun.objects.bulk_create(
        SyncRun(merchant=merchant, kind="webhook", status="succeeded", started_at=T0, finished_at=T0)
        for _ in range(3000)
    )
    ListRunResult.objects.bulk_create(
        ListRunResult(merchant=merchant, run=run, list=lst, outcome="published", removed=1) for run in runs
    )  # the old records: list_size 0, one removal each

    for path in (
        f"/lists/{lst.pk}/",
        "/runs/",
        f"/runs/{runs[-1].pk}/",
        "/shoppers/?email=a@example.com",
        "/lists/",
    ):
        assert staff.get(path).status_code == 200, path
    chart = member_count_chart(list_size_history(list=lst))
    assert all(point.size == 0 and 0 <= point.y <= chart.height for point in chart.points)


def test_the_chart_follows_real_sizes_through_webhook_refreshes(staff, merchant):
    from loyalty_lists.web.selectors import list_size_history
    from tests.lists.fakes import FakeSmile

    smile = FakeSmile()
    cids = [smile.add(f"s{n}@example.com") for n in range(5)]
    lst = services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    services.sync_cycle_run(merchant_id=merchant.pk, client=smile)
    smile.update(cids[0], state="candidate")
    services.customer_refresh(merchant_id=merchant.pk, smile_customer_id=cids[0], client=smile)

    assert [size for _, size in list_size_history(list=lst)] == [5, 4]
    assert staff.get(f"/lists/{lst.pk}/").status_code == 200
