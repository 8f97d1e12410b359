"""The admin pages in a real Chromium, against the live server, the Smile sandbox and a real qcluster."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from integrations.smile.models import SmileConnection
from loyalty_lists.lists.models import ListItem, LoyaltyList

from .conftest import connected_with_synced_lists, expected_members, ground_truth, log_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SYNC_TIMEOUT = 60_000


def sync_now_and_wait(page, base: str) -> None:
    """Press Sync now on the connection page; the progress bar shows up, updates itself, and ends."""
    page.goto(f"{base}/integrations/smile/")
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#sync-progress progress")).to_be_visible()  # queued, then running
    expect(page.locator('#sync-progress[data-state="idle"]')).to_be_visible(timeout=SYNC_TIMEOUT)


def connect_through_consent(page, base: str, sandbox, button: str = "Connect with Smile") -> None:
    page.goto(f"{base}/integrations/smile/")
    page.get_by_role("button", name=button).click()
    page.wait_for_url(re.compile(re.escape(sandbox.base_url) + r"/oauth2/authorize"))
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{base}/integrations/smile/")
    expect(page.locator("#connection-status")).to_have_text("Connected")


def create_list(page, base: str, name: str, audience: str, expected: int, tier: str | None = None) -> int:
    page.goto(f"{base}/lists/new/")
    page.get_by_label("Name", exact=True).fill(name)
    page.locator(f'input[name="audience"][value="{audience}"]').check()
    if tier:
        page.get_by_label("VIP tier", exact=True).select_option(label=tier)
    expect(page.locator("#preview-count")).to_have_text(f"{expected:,}")  # the htmx preview
    expect(page.locator("#preview tbody tr")).to_have_count(min(expected, 10))
    page.get_by_role("button", name="Create list").click()
    page.wait_for_url(re.compile(r"/lists/\d+/$"))
    expect(page.get_by_text(f"Created “{name}”")).to_be_visible()
    return int(re.search(r"/lists/(\d+)/$", page.url).group(1))


def wait_until_lists_are_up_to_date(page, base: str, merchant) -> None:
    """The lists index reloads itself when the sync it watches ends. Lists created while a cycle was
    already running are filled by the next one: press Sync now if one is left over."""
    for _attempt in range(2):
        page.goto(f"{base}/lists/")
        try:
            expect(page.locator("text=Waiting for sync")).to_have_count(0, timeout=SYNC_TIMEOUT // 2)
            return
        except AssertionError:
            sync_now_and_wait(page, base)
    raise AssertionError(f"lists never synced: {list(LoyaltyList.objects.values('name', 'published_seq'))}")


def test_a_merchant_connects_creates_lists_and_works_with_them(page, live_server, sandbox, worker, staff):
    merchant, user = staff
    base = live_server.url
    log_in(page, base, user)

    # Empty state, then connect through the sandbox's consent page.
    page.get_by_role("link", name="Lists", exact=True).click()
    expect(page.get_by_text("Connect Smile to create your first list.")).to_be_visible()
    page.get_by_role("link", name="Connect Smile").click()
    connect_through_consent(page, base, sandbox)

    # Connecting queues the first (full) sync, which fills the snapshot the previews are computed from;
    # the connection page follows it until it ends. (The progress bar itself is checked below, where
    # Sync now is pressed.)
    expect(page.locator('#sync-progress[data-state="idle"]')).to_be_visible(timeout=SYNC_TIMEOUT)
    expect(page.locator("#sync-progress")).to_contain_text("Succeeded")
    expect(page.locator("#sync-progress")).to_contain_text("2,000 customers")

    # One list of each audience, each previewed before saving.
    _, tiers = ground_truth(sandbox)
    tier_id, tier_name = next(iter(tiers.items()))
    members = expected_members(sandbox, "all_members")
    both = expected_members(sandbox, "members_and_candidates")
    vips = expected_members(sandbox, "vip_tier", tier_id)
    ids = {
        "members": create_list(page, base, "All members", "all_members", len(members)),
        "both": create_list(page, base, "Members and candidates", "members_and_candidates", len(both)),
        "tier": create_list(page, base, f"{tier_name} VIPs", "vip_tier", len(vips), tier=tier_name),
    }
    wait_until_lists_are_up_to_date(page, base, merchant)
    for key, expected in [("members", members), ("both", both), ("tier", vips)]:
        row = page.locator("tr", has=page.locator(f'a[href="/lists/{ids[key]}/"]'))
        expect(row.locator("td.num")).to_have_text(f"{len(expected):,}")
        expect(row).to_contain_text("Up to date")

    # Browse: keyset pages forward and back.
    page.get_by_role("link", name="Members and candidates").click()
    expect(page.locator("#member-count")).to_have_text(f"{len(both):,}")
    rows = page.locator("#items tbody tr")
    expect(rows).to_have_count(50)
    first_page = rows.first.locator("td").first.inner_text()
    page.get_by_role("link", name="Next →").click()
    expect(rows.first.locator("td").first).not_to_have_text(first_page)
    page.get_by_role("link", name="← Previous").click()
    expect(rows.first.locator("td").first).to_have_text(first_page)

    # Search any part of the email, filter by state, sort by points.
    part = sorted(c.email.strip().lower() for c in both if c.email)[0].split("@")[0][1:4]
    page.get_by_label("Email contains").fill(part.upper())
    page.get_by_role("button", name="Apply").click()
    emails = page.locator("#items tbody tr td:first-child").all_inner_texts()
    matching = [c for c in both if c.email and part in c.email.strip().lower()]
    assert emails and all(part in email for email in emails)
    expect(page.locator("#result-count")).to_contain_text(f"{len(matching):,} member")
    page.get_by_role("link", name="Reset").click()
    page.get_by_label("State").select_option(label="Candidate")
    page.get_by_label("Sort by").select_option(label="Points (highest first)")
    page.get_by_role("button", name="Apply").click()
    states = page.locator("#items tbody tr td:nth-child(5)").all_inner_texts()
    assert states and set(states) == {"Candidate"}
    points = [int(p.replace(",", "")) for p in page.locator("#items tbody td.num").all_inner_texts()]
    assert points == sorted(points, reverse=True)
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("Points balance")

    # Export what the page shows: the candidates, by points.
    candidates = [c for c in both if c.state == "candidate"]
    expect(page.locator("#export")).to_have_text(f"Export {len(candidates):,} shoppers")
    with page.expect_download() as download_info:
        page.locator("#export").click()
    exported = list(csv.reader(io.StringIO(download_info.value.path().read_text(encoding="utf-8"))))
    assert exported[0][0] == "email" and len(exported) == len(candidates) + 1
    assert {row[4] for row in exported[1:]} == {"candidate"}
    assert [int(row[1]) for row in exported[1:]] == sorted((int(r[1]) for r in exported[1:]), reverse=True)

    # The shopper view explains why a candidate is not in the members-only list.
    candidate = next(c for c in both if c.state == "candidate" and c.email)
    page.get_by_role("link", name="Shoppers", exact=True).click()
    page.get_by_label("Shopper email").fill(candidate.email)
    page.get_by_role("button", name="Look up").click()
    why = page.locator("#not-in tr", has=page.get_by_role("link", name="All members", exact=True))
    expect(why).to_contain_text("candidate")
    expect(page.locator("#member-of")).to_contain_text("Members and candidates")
    # The lists' first sync filled them without a "Joined" change per shopper; the page says so.
    expect(page.locator("#member-of")).to_contain_text("(the list's first sync)")


def test_a_tier_deleted_in_smile_shows_the_stale_banner_after_the_next_cycle(
    page, live_server, sandbox, worker, staff
):
    merchant, user = staff
    _, tiers = ground_truth(sandbox)
    (gone_id, gone_name), (other_id, other_name) = list(tiers.items())[:2]
    lists = connected_with_synced_lists(
        merchant, sandbox, **{"Tier list": {"audience": "vip_tier", "vip_tier_id": gone_id}}
    )
    lst = lists["Tier list"]
    size = ListItem.objects.filter(list=lst).count()
    assert size > 0
    base = live_server.url
    log_in(page, base, user)
    page.goto(f"{base}/lists/{lst.pk}/")
    expect(page.locator("#stale-banner")).to_have_count(0)

    sandbox.delete_tier(gone_id)
    sync_now_and_wait(page, base)
    page.goto(f"{base}/lists/{lst.pk}/")
    banner = page.locator("#stale-banner")
    expect(banner).to_contain_text(f"“{gone_name}”")
    expect(banner).to_contain_text("no longer exists in Smile")
    expect(page.locator("#member-count")).to_have_text(f"{size:,}")  # frozen, not emptied
    page.goto(f"{base}/lists/")
    expect(page.locator("tbody tr", has=page.get_by_role("link", name="Tier list"))).to_contain_text("Stale")

    # Pick another tier: the list recovers at the next cycle.
    page.goto(f"{base}/lists/{lst.pk}/")
    banner.get_by_role("link", name="Pick another tier").click()
    page.get_by_label("VIP tier", exact=True).select_option(label=other_name)
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#stale-banner")).to_have_count(0)
    sync_now_and_wait(page, base)
    page.goto(f"{base}/lists/{lst.pk}/")
    # Every old member leaves at once, so the removal guardrail holds the run: approve it here.
    held = page.locator(".held-banner")
    if held.count():
        held.get_by_role("button", name="Approve").click()
        expect(page.get_by_text("Approved: the held changes are published.")).to_be_visible()
    expected = len(expected_members(sandbox, "vip_tier", other_id))
    expect(page.locator("#member-count")).to_have_text(f"{expected:,}")


def test_revoked_tokens_need_reconnect_and_reconnecting_recovers(page, live_server, sandbox, worker, staff):
    merchant, user = staff
    lists = connected_with_synced_lists(merchant, sandbox, Members={"audience": "all_members"})
    base = live_server.url
    log_in(page, base, user)

    sandbox.revoke_tokens()
    sync_now_and_wait(page, base)
    expect(page.locator("#last-sync-error")).to_contain_text("invalid_grant")
    page.reload()
    expect(page.locator("#connection-status")).to_have_text("Needs reconnect")
    expect(page.get_by_role("alert")).to_contain_text("Smile no longer accepts the stored credentials")
    page.goto(f"{base}/lists/")
    expect(page.get_by_text("Smile needs reconnecting.")).to_be_visible()
    row = page.locator("tbody tr", has=page.get_by_role("link", name="Members", exact=True))
    expect(row).to_contain_text("Up to date")  # the last good state stays

    connect_through_consent(page, base, sandbox, button="Reconnect with Smile")
    assert SmileConnection.objects.get(merchant=merchant).status == "connected"
    sandbox.patch_customer(expected_members(sandbox, "all_members")[0].id, state="disabled")
    sync_now_and_wait(page, base)
    expect(page.locator("#sync-progress")).to_contain_text("Succeeded")
    page.goto(f"{base}/lists/{lists['Members'].pk}/")
    expect(page.locator("#member-count")).to_have_text(f"{len(expected_members(sandbox, 'all_members')):,}")
