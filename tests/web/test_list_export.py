"""CSV export: streamed, exactly what the list page shows (search, filters, sort, every page), a header row,
times in ISO 8601 UTC with Z, spreadsheet-formula safe, merchant-scoped."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.http import StreamingHttpResponse

from loyalty_lists.lists.models import ListItem
from loyalty_lists.web.selectors import SORTS, list_items_page
from loyalty_lists.web.views.list_detail import EXPORT_BATCH, csv_safe

from .conftest import T0, make_items, make_list


def read_csv(response):
    assert isinstance(response, StreamingHttpResponse)
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_it_streams_every_item_with_a_header_row(staff, merchant):
    lst = make_list(merchant, "Loyal shoppers!")
    make_items(
        lst, [{"email": f"s{n:05d}@example.com", "points_balance": n} for n in range(EXPORT_BATCH + 5)]
    )
    response = staff.get(f"/lists/{lst.pk}/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="loyal-shoppers-')
    rows = read_csv(response)
    assert rows[0] == [
        "email",
        "points_balance",
        "vip_tier_name",
        "vip_tier_expires_at",
        "state",
        "loyalty_member_since",
        "smile_customer_id",
        "added_at",
    ]
    assert len(rows) == EXPORT_BATCH + 6
    assert sorted(r[0] for r in rows[1:]) == [f"s{n:05d}@example.com" for n in range(EXPORT_BATCH + 5)]


def test_it_writes_times_in_iso_8601_utc_with_z_whatever_the_merchants_time_zone(staff, merchant):
    merchant.timezone = "America/New_York"
    merchant.save()
    lst = make_list(merchant)
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
                "smile_customer_id": 77,
            }
        ],
    )
    row = read_csv(staff.get(f"/lists/{lst.pk}/export.csv"))[1]
    assert row[:7] == [
        "ann@example.com",
        "1500",
        "Gold",
        "2024-12-26T12:00:00Z",
        "member",
        "2024-03-01T12:00:00Z",
        "77",
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[7])  # added_at


def test_cells_that_a_spreadsheet_would_run_as_formulas_are_defused(staff, merchant):
    lst = make_list(merchant)
    make_items(
        lst,
        [
            {"email": '=HYPERLINK("http://evil")@x.com', "vip_tier_name": "+Gold"},
            {"email": "-1+1@example.com", "vip_tier_name": "@Silver"},
            {"email": "plain@example.com", "vip_tier_name": "Bronze", "points_balance": -5},
        ],
    )
    rows = read_csv(staff.get(f"/lists/{lst.pk}/export.csv"))[1:]
    by_email = {r[0]: r for r in rows}
    assert by_email['\'=HYPERLINK("http://evil")@x.com'][2] == "'+Gold"
    assert by_email["'-1+1@example.com"][2] == "'@Silver"
    assert by_email["plain@example.com"][1:3] == ["-5", "Bronze"]  # numbers are numbers


def test_csv_safe_prefixes_every_formula_trigger():
    for text in ["=1", "+1", "-1", "@a", "\tx", "\rx"]:
        assert csv_safe(text) == "'" + text
    assert csv_safe("a=1") == "a=1" and csv_safe(None) == "" and csv_safe(5) == "5"


def test_an_empty_list_exports_just_the_header(staff, merchant):
    lst = make_list(merchant)
    assert len(read_csv(staff.get(f"/lists/{lst.pk}/export.csv"))) == 1


def test_the_export_reads_only_this_list(staff, merchant, other_merchant):
    mine, other = make_list(merchant, "Mine"), make_list(merchant, "Other")
    make_items(mine, [{"email": "mine@example.com"}])
    make_items(other, [{"email": "other@example.com"}])
    foreign = make_list(other_merchant, "Theirs")
    make_items(foreign, [{"email": "theirs@example.com"}])
    rows = read_csv(staff.get(f"/lists/{mine.pk}/export.csv"))
    assert [r[0] for r in rows[1:]] == ["mine@example.com"]
    assert staff.get(f"/lists/{foreign.pk}/export.csv").status_code == 404


@pytest.mark.parametrize("sort", list(SORTS))
def test_the_export_is_every_page_of_the_filtered_view_in_its_order(staff, merchant, sort):
    """Same search, filters and sort as the page (the button's link carries them), all pages of it."""
    lst = make_list(merchant, "Paged")
    make_items(
        lst,
        [
            {
                "email": f"{'lopez' if n % 3 else 'smith'}{n % 7}@example.org",  # duplicate emails too
                "points_balance": (n * 7) % 5,
                "loyalty_member_since": None if n % 4 == 0 else T0 + timedelta(days=n % 6),
                "state": "candidate" if n % 5 == 0 else "member",
            }
            for n in range(40)
        ],
    )
    params = {"q": "LOPEZ", "state": "member", "sort": sort}
    body = staff.get(f"/lists/{lst.pk}/", params).content.decode()
    link = re.search(r'<a class="button secondary" id="export" href="([^"]+)"', body).group(1)
    exported = read_csv(staff.get(link.replace("&amp;", "&")))[1:]
    shown = []
    for page in walk_pages(lst, sort, search="LOPEZ", state="member"):
        shown += [(i.email, str(i.smile_customer_id)) for i in page.items]
    assert [(row[0], row[6]) for row in exported] == shown
    assert len(shown) == ListItem.objects.filter(list=lst, email__contains="lopez", state="member").count()
    assert f">Export {len(shown)} shoppers</a>" in body


def walk_pages(lst, sort, **filters):
    after = None
    while True:
        page = list_items_page(list=lst, sort=sort, after=after, limit=7, **filters)
        yield page
        if not page.next_cursor:
            return
        after = page.next_cursor


def test_an_unfiltered_export_says_the_lists_size_on_its_button(staff, merchant):
    lst = make_list(merchant)
    make_items(lst, [{"email": f"s{n}@example.com"} for n in range(18)])
    body = staff.get(f"/lists/{lst.pk}/").content.decode()
    assert f'href="/lists/{lst.pk}/export.csv" download>Export 18 shoppers</a>' in body
