"""Keyset pagination of a list's members: every item exactly once, in order, for every sort (with
duplicate sort keys and NULLs), forwards and backwards; constant queries per page; index-only order."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty_lists.web.paging import InvalidCursor, Ordering, decode_cursor, encode_cursor
from loyalty_lists.web.selectors import COUNT_CAP, SORTS, TIES, list_items_page

from .conftest import T0, make_items, make_list

PAGE = 7


@pytest.fixture
def items(merchant):
    """53 items: points and member-since with many duplicates, some member-since NULL, emails that
    share prefixes, and one email shared by seven Smile customers whose ids run against the items'."""
    lst = make_list(merchant, "Paging")
    specs = []
    for n in range(53):
        dup = n % 8 == 0
        specs.append(
            {
                "email": "ab-dup@example.com"
                if dup
                else f"{'ab' if n % 3 == 0 else 'b'}{n % 10}-{n:02d}@example.com",
                **({"smile_customer_id": 90_000 - n} if dup else {}),
                "points_balance": (n * 7) % 5 * 100,  # only 5 distinct values
                "loyalty_member_since": None if n % 4 == 0 else T0 + timedelta(days=n % 6),
                "state": "candidate" if n % 5 == 0 else "member",
                "vip_tier_id": None if n % 2 else 7,
                "vip_tier_name": None if n % 2 else "Gold",
            }
        )
    return lst, make_items(lst, specs)


def expected_order(all_items, sort):
    _label, field, descending = SORTS[sort]
    tie = TIES.get(field, "id")
    with_value = [i for i in all_items if getattr(i, field) is not None]
    without = [i for i in all_items if getattr(i, field) is None]
    with_value.sort(key=lambda i: (getattr(i, field), getattr(i, tie)), reverse=descending)
    without.sort(key=lambda i: i.pk, reverse=descending)
    return [i.pk for i in with_value + without]


def walk(lst, sort, **filters):
    pages, after = [], None
    while True:
        page = list_items_page(list=lst, sort=sort, after=after, limit=PAGE, **filters)
        pages.append(page)
        if not page.next_cursor:
            return pages
        after = page.next_cursor


@pytest.mark.parametrize("sort", list(SORTS))
def test_walking_next_pages_returns_every_item_once_in_order(items, sort):
    lst, all_items = items
    pages = walk(lst, sort)
    seen = [item.pk for page in pages for item in page.items]
    assert seen == expected_order(all_items, sort)
    assert all(len(page.items) == PAGE for page in pages[:-1])
    assert pages[0].prev_cursor is None and all(page.prev_cursor for page in pages[1:])


@pytest.mark.parametrize("sort", list(SORTS))
def test_walking_previous_pages_back_returns_the_same_pages(items, sort):
    lst, _ = items
    forward = walk(lst, sort)
    back = [forward[-1]]
    while back[-1].prev_cursor:
        back.append(list_items_page(list=lst, sort=sort, before=back[-1].prev_cursor, limit=PAGE))
    assert [[i.pk for i in p.items] for p in reversed(back)] == [[i.pk for i in p.items] for p in forward]
    assert back[-1].prev_cursor is None  # the first page knows it is the first


@pytest.mark.parametrize("sort", ["email", "-points", "member_since"])
def test_filters_combine_with_paging(items, sort):
    lst, all_items = items
    pages = walk(lst, sort, search="B-", state="member", tier="7")  # any part of the email, any case
    seen = [item.pk for page in pages for item in page.items]
    matching = [i for i in all_items if "b-" in i.email and i.state == "member" and i.vip_tier_id == 7]
    assert seen == expected_order(matching, sort) and seen


def test_the_no_tier_filter_finds_items_without_a_tier(items):
    lst, all_items = items
    seen = {i.pk for page in walk(lst, "email", tier="none") for i in page.items}
    assert seen == {i.pk for i in all_items if i.vip_tier_id is None}


def test_a_cursor_of_another_sort_or_garbage_is_rejected(items):
    lst, _ = items
    page = list_items_page(list=lst, sort="email", limit=PAGE)
    with pytest.raises(InvalidCursor):
        list_items_page(list=lst, sort="-points", after=page.next_cursor, limit=PAGE)
    stale = encode_cursor(Ordering("email", tag="email"), 0, "b1-01@example.com", 3)  # tie by item id
    for garbage in ["x", "!!!", encode_cursor(Ordering("email", tag="email"), 0, {"a": 1}, 3), stale]:
        with pytest.raises(InvalidCursor):
            list_items_page(list=lst, sort="email", after=garbage, limit=PAGE)


def test_cursors_round_trip_datetimes_and_null_segments():
    ordering = Ordering("loyalty_member_since", nullable=True, tag="member_since")
    from loyalty_lists.lists.models import ListItem

    token = encode_cursor(ordering, 0, T0, 5)
    assert decode_cursor(ordering, token, ListItem) == (0, T0, 5)
    assert decode_cursor(ordering, encode_cursor(ordering, 1, None, 9), ListItem) == (1, None, 9)


def test_the_page_links_carry_the_filters_and_an_opaque_cursor(staff, items, monkeypatch):
    monkeypatch.setattr("loyalty_lists.web.views.list_detail.PAGE_SIZE", 5)
    lst, _ = items
    response = staff.get(f"/lists/{lst.pk}/", {"sort": "-points", "state": "member", "q": "b"})
    body = response.content.decode()
    next_link = re.search(r'<a href="([^"]+)" rel="next">', body).group(1).replace("&amp;", "&")
    query = parse_qs(urlsplit(next_link).query)
    assert query["sort"] == ["-points"] and query["state"] == ["member"] and query["q"] == ["b"]
    assert "after" in query and "before" not in query
    second = staff.get(f"/lists/{lst.pk}/{next_link}").content.decode()
    assert 'rel="prev"' in second


def test_a_broken_cursor_link_shows_the_first_page(staff, items):
    lst, _ = items
    response = staff.get(f"/lists/{lst.pk}/", {"after": "garbage"})
    assert response.status_code == 200
    assert "That page link has expired" in response.content.decode()


@pytest.mark.parametrize("sort", list(SORTS))
def test_a_page_costs_a_small_constant_number_of_queries(
    staff, merchant, items, sort, django_assert_max_num_queries, monkeypatch
):
    monkeypatch.setattr("loyalty_lists.web.views.list_detail.PAGE_SIZE", PAGE)
    lst, _ = items
    first = list_items_page(list=lst, sort=sort, limit=PAGE)
    for params in ({"sort": sort}, {"sort": sort, "after": first.next_cursor}, {"sort": sort, "q": "ab"}):
        with django_assert_max_num_queries(10) as captured:
            assert staff.get(f"/lists/{lst.pk}/", params).status_code == 200
        counts = [q["sql"].upper() for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
        assert not any("OFFSET" in q["sql"].upper() for q in captured.captured_queries)
        if "q" in params:  # a filtered view of several pages counts its matches once, with a cap
            assert len(counts) == 1 and f"LIMIT {COUNT_CAP + 1}" in counts[0]
        else:  # the list's own item_count
            assert counts == []
    with django_assert_max_num_queries(10) as captured:  # one page of matches: they are the count
        body = staff.get(f"/lists/{lst.pk}/", {"sort": sort, "q": "ab-dup"}).content.decode()
    assert "<strong>7</strong> members match" in body
    assert not [q for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]


def _plan(sql):
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return " | ".join(row[-1] for row in cursor.fetchall())


INDEX_OF = {
    "email": "item_email_customer",
    "points_balance": "item_points",
    "loyalty_member_since": "item_member_since",
}


@pytest.mark.parametrize("sort", list(SORTS))
def test_the_page_query_walks_the_list_sort_key_id_index_without_sorting(items, sort):
    """Every query of a walk through all pages (both NULL segments included), forwards and back."""
    lst, _ = items
    with CaptureQueriesContext(connection) as captured:
        pages = walk(lst, sort)
        for page in pages[1:]:
            list_items_page(list=lst, sort=sort, before=page.prev_cursor, limit=PAGE)
    field = SORTS[sort][1]
    assert len(captured.captured_queries) >= 2 * len(pages) - 1
    for query in captured.captured_queries:
        plan = _plan(query["sql"])
        assert f"USING INDEX {INDEX_OF[field]} (list_id=?" in plan, (query["sql"], plan)
        assert "TEMP B-TREE" not in plan, (query["sql"], plan)
