"""Issue 19 in a real Chromium: each place a merchant stumbled, walked again, with screenshots of every
page at desktop and mobile widths (``test-artifacts/screenshots/``)."""

import csv
import io
import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from integrations.smile.models import SmileConnection
from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListItem, ListRunResult, VipTier

from .conftest import connected_with_synced_lists, ground_truth, log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
MOMENT = re.compile(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d [A-Z]{2,5}( · .+)?")  # 6 Dec 2026, 19:31 GMT · …
DAY = re.compile(r"\d{1,2} [A-Z][a-z]{2} \d{4}")  # 6 Dec 2026
OTHER_FORMATS = re.compile(r"\b[ap]\.m\.|\d{4}-\d\d-\d\d[ T]\d\d:\d\d|\d\d:\d\d UTC\b")


def shop(merchant, sandbox):
    """Three synced lists: everyone in Smile's loyalty program, members and candidates, one VIP tier."""
    _, tiers = ground_truth(sandbox)
    tier_id, tier_name = next(iter(tiers.items()))
    lists = connected_with_synced_lists(
        merchant,
        sandbox,
        **{
            "All members": {"audience": "all_members"},
            "Members and candidates": {"audience": "members_and_candidates"},
            f"{tier_name} VIPs": {"audience": "vip_tier", "vip_tier_id": tier_id},
        },
    )
    return lists, tiers


def page_rows(page) -> list[tuple[str, str]]:
    """(email, points) of every row of every page of the list view the browser is on, via Next."""
    rows = []
    while True:
        cells = page.locator("#items tbody tr")
        for row in cells.all():
            rows.append((row.locator("td").nth(0).inner_text(), row.locator("td").nth(1).inner_text()))
        following = page.get_by_role("link", name="Next →")
        if not following.count():
            return rows
        following.click()
        page.wait_for_load_state()


def times_on(page) -> list[tuple[str, str]]:
    """Every <time> of the page: (datetime attribute, text)."""
    return page.locator("main time").evaluate_all(
        "ts => ts.map(t => [t.getAttribute('datetime'), t.innerText])"
    )


def text_outside_the_chart(page) -> str:
    return page.evaluate(
        "() => { const m = document.querySelector('main').cloneNode(true);"
        " m.querySelectorAll('figure.chart').forEach(f => f.remove()); return m.innerText; }"
    )


# --- 1. CSV = the filtered page ----------------------------------------------------------------------------
def test_the_csv_export_is_exactly_the_filtered_sorted_view_and_says_how_many(
    page, live_server, sandbox, staff
):
    merchant, user = staff
    lists, tiers = shop(merchant, sandbox)
    both = lists["Members and candidates"]
    tier_id, tier_name = next(iter(tiers.items()))
    log_in(page, live_server.url, user)
    page.goto(f"{live_server.url}/lists/{both.pk}/")
    page.get_by_label("State").select_option(label="Candidate")
    page.get_by_label("VIP tier", exact=True).select_option(label=tier_name)
    page.get_by_label("Sort by").select_option(label="Points (highest first)")
    page.get_by_role("button", name="Apply").click()
    expected = ListItem.objects.filter(list=both, state="candidate", vip_tier_id=tier_id).count()
    assert 0 < expected < ListItem.objects.filter(list=both).count()
    export = page.locator("#export")
    expect(export).to_have_text(f"Export {expected:,} shopper{'s' if expected != 1 else ''}")
    with page.expect_download() as download:
        export.click()
    exported = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    shown = page_rows(page)
    assert len(shown) == expected
    assert [(row[0], f"{int(row[1]):,}") for row in exported[1:]] == shown  # same rows, same order
    assert {row[4] for row in exported[1:]} == {"candidate"} and {row[2] for row in exported[1:]} == {
        tier_name
    }
    for row in exported[1:]:  # 2. times in the CSV: ISO 8601, UTC, Z
        assert all(ISO_UTC.fullmatch(cell) for cell in (row[3], row[5], row[7]) if cell), row


# --- 2. one time format -------------------------------------------------------------------------------------
def test_every_page_writes_times_one_way_and_machines_read_them_as_utc(page, live_server, sandbox, staff):
    merchant, user = staff
    lists, _ = shop(merchant, sandbox)
    run = services.sync_cycle_run(merchant_id=merchant.pk)
    email = ListItem.objects.filter(list=lists["All members"]).values_list("email", flat=True).first()
    base = live_server.url
    log_in(page, base, user)
    page.goto(f"{base}/api-keys/")
    page.get_by_label("Name").fill("Times")
    page.get_by_role("button", name="Create key").click()
    pages = ["/", "/lists/", f"/lists/{lists['All members'].pk}/", "/runs/", f"/runs/{run.pk}/"]
    pages += [f"/shoppers/?email={email}", "/api-keys/", "/integrations/smile/"]
    for path in pages:
        page.goto(base + path)
        times = times_on(page)
        assert times, path
        for iso, text in times:
            assert ISO_UTC.fullmatch(iso), (path, iso)
            assert datetime.fromisoformat(iso.replace("Z", "+00:00")).utcoffset() == timedelta(0)
            assert MOMENT.fullmatch(text) or DAY.fullmatch(text), (path, text)
        assert not OTHER_FORMATS.search(text_outside_the_chart(page)), (
            path,
            OTHER_FORMATS.search(text_outside_the_chart(page)),
        )
    # the merchant is in London: its pages say GMT/BST, and say how long ago
    page.goto(f"{base}/runs/")
    expect(page.locator("main time").first).to_contain_text(re.compile(r" (GMT|BST) · .+ ago|just now"))


# --- 3. API keys: post/redirect/get, shown once, Copy ------------------------------------------------------
def test_a_reload_after_creating_a_key_makes_no_second_key_and_copy_copies_it(page, live_server, staff):
    from loyalty_lists.api.models import ApiKey

    merchant, user = staff
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, live_server.url, user)
    page.get_by_role("link", name="API keys").click()
    screenshot(page, "api-keys-empty")
    page.get_by_label("Name").fill("Klaviyo flows")
    page.get_by_role("button", name="Create key").click()
    expect(page).to_have_url(f"{live_server.url}/api-keys/")  # redirected: a reload is a GET
    key_field = page.locator("#new-key")
    text = key_field.input_value()
    assert re.fullmatch(r"sll_[a-z0-9]{12}_[A-Za-z0-9]{40}", text)
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    expect(page.locator("#copy-status")).to_have_text("The key is on your clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == text
    screenshot(page, "api-keys-new-key")

    page.reload()
    expect(page.locator("#new-key")).to_have_count(0)
    assert text not in page.content()
    expect(page.locator("#keys tbody tr")).to_have_count(1)
    assert ApiKey.objects.filter(merchant=merchant).count() == 1
    page.go_back()  # back to the page that showed it: gone as well
    assert text not in page.content()
    assert ApiKey.objects.filter(merchant=merchant).count() == 1
    page.goto(f"{live_server.url}/api-keys/")
    screenshot(page, "api-keys")


# --- 4. names, not numbers ----------------------------------------------------------------------------------
def test_the_account_and_tiers_are_named_and_a_re_created_tier_is_offered_once(
    page, live_server, sandbox, staff
):
    merchant, user = staff
    base = live_server.url
    log_in(page, base, user)
    # Connect through Smile's consent page: the name comes with the token (if Smile names the account)
    page.goto(f"{base}/integrations/smile/")
    page.get_by_role("button", name="Connect with Smile").click()
    page.wait_for_url(re.compile(re.escape(sandbox.base_url) + r"/oauth2/authorize"))
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{base}/integrations/smile/")
    token = sandbox.issue_token()
    label = token.get("account_name") or f"Smile account {token['account_id']}"
    expect(page.locator("#account-name")).to_contain_text(label)
    page.goto(f"{base}/")
    expect(page.locator("#account-name")).to_have_text(label)
    assert SmileConnection.objects.get(merchant=merchant).account_name == (token.get("account_name") or "")

    # Tiers by name: a shopper in another tier than a tier list's is told which one by name.
    services.vip_tiers_refresh(merchant=merchant)
    customers, tiers = ground_truth(sandbox)
    (gold_id, gold), (silver_id, silver) = list(tiers.items())[:2]
    lists = {
        "members": services.list_create(
            merchant=merchant, name="Members", audience="all_members", enqueue=False
        ),
        "tier": services.list_create(
            merchant=merchant,
            name=f"{silver} VIPs",
            audience="vip_tier",
            vip_tier_id=silver_id,
            enqueue=False,
        ),
    }
    assert services.sync_cycle_run(merchant_id=merchant.pk).status == "succeeded"
    shopper = next(c for c in customers if c.vip_tier_id == gold_id and c.state != "disabled" and c.email)
    page.goto(f"{base}/shoppers/?email={shopper.email.strip()}")
    why = page.locator("#not-in tr", has=page.get_by_role("link", name=f"{silver} VIPs"))
    expect(why).to_contain_text(f"in another VIP tier ({gold})")
    assert f"#{gold_id}" not in why.inner_text()
    screenshot(page, "shopper")

    # The tier is deleted in Smile and re-created with the same name: "Gold" once in the filter.
    in_gold = [c.id for c in customers if c.vip_tier_id == gold_id]
    sandbox.delete_tier(gold_id)
    new_gold = sandbox.create_tier(gold, 500)["id"]
    for customer_id in in_gold[:5]:
        sandbox.patch_customer(customer_id, vip_tier_id=new_gold)
    assert services.sync_cycle_run(merchant_id=merchant.pk).status in ("succeeded", "held")
    assert VipTier.objects.filter(merchant=merchant, name=gold).count() == 2  # the old row is kept
    page.goto(f"{base}/lists/{lists['members'].pk}/")
    labels = page.locator("#id_tier option").all_inner_texts()
    assert labels.count(gold) == 1 and not [x for x in labels if x.startswith(gold) and x != gold], labels


# --- 5. search any part of the email, counted, paged "1–50 of N" -------------------------------------------
def test_searching_the_middle_or_the_domain_of_emails_finds_them_counted_and_paged(
    page, live_server, sandbox, staff
):
    merchant, user = staff
    lists, _ = shop(merchant, sandbox)
    members = lists["All members"]
    emails = list(ListItem.objects.filter(list=members).values_list("email", flat=True))
    domain = max({e.split("@")[1] for e in emails}, key=lambda d: sum(e.endswith("@" + d) for e in emails))
    middle = sorted(emails)[len(emails) // 2].split("@")[0][2:5]
    log_in(page, live_server.url, user)
    page.goto(f"{live_server.url}/lists/{members.pk}/")
    expect(page.locator("#page-range")).to_have_text(f"1–50 of {len(emails):,}")
    for text in (middle, "@" + domain.upper()):
        matching = sorted(e for e in emails if text.lower() in e)
        page.get_by_label("Email contains").fill(text)
        page.get_by_role("button", name="Apply").click()
        count = f"{len(matching):,} member{'s' if len(matching) != 1 else ''} match"
        expect(page.locator("#result-count")).to_contain_text(count)
        shown = page.locator("#items tbody tr td:first-child").all_inner_texts()
        assert shown == matching[:50], text
        if len(matching) > 50:
            expect(page.locator("#page-range")).to_have_text(f"1–50 of {len(matching):,}")
            page.get_by_role("link", name="Next →").click()
            last = min(100, len(matching))
            expect(page.locator("#page-range")).to_have_text(f"51–{last} of {len(matching):,}")
            assert page.locator("#items tbody tr td:first-child").all_inner_texts() == matching[50:100]
            page.get_by_role("link", name="← Previous").click()
            expect(page.locator("#page-range")).to_have_text(f"1–50 of {len(matching):,}")
    screenshot(page, "list-detail-search")


# --- 6. error pages in the app layout; the API docs lead back -----------------------------------------------
def test_404_and_500_are_styled_pages_with_a_way_back_and_the_docs_link_to_the_admin(
    page, live_server, staff, settings
):
    merchant, user = staff
    log_in(page, live_server.url, user)
    response = page.goto(f"{live_server.url}/lists/999999/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="This page does not exist")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    screenshot(page, "404")
    page.get_by_role("link", name="Go to the overview").click()
    expect(page).to_have_url(f"{live_server.url}/")

    settings.ROOT_URLCONF = "tests.web.urls_with_a_bug"
    response = page.goto(f"{live_server.url}/a-page-with-a-bug/")
    assert response.status == 500
    expect(page.get_by_role("heading", name="Something went wrong on our side")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex"  # styled
    screenshot(page, "500")
    page.get_by_role("link", name="Go to the overview").click()
    expect(page).to_have_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/api/v1/docs")
    page.get_by_role("link", name=re.compile("Back to Smile loyalty lists")).click()
    expect(page).to_have_url(f"{live_server.url}/")


# --- 7. words that promise only what is there ---------------------------------------------------------------
def test_with_a_private_api_key_nothing_promises_webhook_updates(page, live_server, sandbox, staff):
    merchant, user = staff
    shop(merchant, sandbox)
    SmileConnection.objects.filter(merchant=merchant).update(auth_kind="api_key", refresh_token_encrypted="")
    log_in(page, live_server.url, user)
    for path in ("/integrations/smile/", "/"):
        page.goto(live_server.url + path)
        panel = page.locator("#sync-freshness")
        expect(panel).to_contain_text("reaches the lists at the next sync")
        expect(panel).not_to_contain_text("within")
    expect(page.locator("main")).not_to_contain_text("webhook updates")
    page.goto(f"{live_server.url}/lists/new/")
    expect(page.locator("#id_name_helptext")).not_to_contain_text("Loop")
    expect(page.get_by_role("button", name="Create list")).to_be_visible()


# --- 8. the Shoppers page and the API share one email rule --------------------------------------------------
def test_the_shoppers_page_rejects_what_the_api_rejects(page, live_server, staff):
    merchant, user = staff
    log_in(page, live_server.url, user)
    page.goto(f"{live_server.url}/shoppers/")
    page.get_by_label("Shopper email").fill("not-an-email")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#id_email_error")).to_have_text(
        "Enter a valid email address, e.g. shopper@example.com."
    )
    expect(page.locator("#not-in")).to_have_count(0)


# --- 9. held runs: who decided, when ------------------------------------------------------------------------
def test_who_approved_a_held_run_and_when_shows_on_the_list_and_in_the_history(
    page, live_server, sandbox, staff, settings
):
    merchant, user = staff
    lists, _ = shop(merchant, sandbox)
    members = lists["All members"]
    settings.SYNC_REMOVAL_GUARDRAIL_MIN_ITEMS = 10
    settings.SYNC_REMOVAL_GUARDRAIL_PERCENT = 5
    leaving = list(ListItem.objects.filter(list=members).values_list("smile_customer_id", flat=True)[:200])
    for customer_id in leaving:
        sandbox.patch_customer(customer_id, state="disabled")
    held_run = services.sync_cycle_run(merchant_id=merchant.pk)
    assert held_run.status == "held"
    base = live_server.url
    log_in(page, base, user)
    page.goto(f"{base}/lists/{members.pk}/")
    screenshot(page, "list-detail-held")
    page.locator(".held-banner").get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Approved: the held changes are published.")).to_be_visible()
    decided = page.locator("#decided-holds")
    expect(decided).to_contain_text(f"Run #{held_run.pk} would have removed 200")
    expect(decided).to_contain_text(f"approved by {user.email}")
    expect(decided.locator("time")).to_contain_text(re.compile(r"· just now|· \d+.*ago"))
    hold = ListRunResult.objects.get(run=held_run, list=members)
    assert (hold.decided_by, hold.decision) == (user, "approved")
    assert ISO_UTC.fullmatch(decided.locator("time").get_attribute("datetime"))
    screenshot(page, "list-detail")
    page.goto(f"{base}/runs/")
    expect(page.locator("tr", has=page.get_by_role("link", name=f"#{held_run.pk}"))).to_contain_text(
        f"approved by {user.email}"
    )
    screenshot(page, "run-history")
    page.goto(f"{base}/runs/{held_run.pk}/")
    row = page.locator("tr", has=page.get_by_role("link", name="All members", exact=True))
    expect(row.locator("td.decision")).to_contain_text(f"Approved by {user.email}")
    screenshot(page, "run-detail")
    page.goto(f"{base}/lists/")
    screenshot(page, "lists")
