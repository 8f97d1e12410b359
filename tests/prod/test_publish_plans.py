"""PostgreSQL plans of the publish after bulk loads.

A table filled inside a few transactions still looks empty to PostgreSQL's planner until autovacuum
analyzes it; an anti-join planned against an "empty" item table as a sequential scan is quadratic (a
50,000-item first fill once took minutes). So: a first fill has no anti-join at all, and a full walk /
a big publish refresh the statistics themselves.
"""

import pytest
from django.db import connection

from loyalty_lists.lists import services
from loyalty_lists.lists.models import ListItem, SmileCustomer
from loyalty_lists.lists.sync import cycle
from loyalty_lists.lists.sync.publish import ALL, _ListSets
from loyalty_lists.merchants.models import Merchant
from tests.lists.fakes import FakeSmile

pytestmark = pytest.mark.django_db


def reltuples(model) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [model._meta.db_table])
        return cursor.fetchone()[0]


def test_a_full_walk_and_a_big_first_fill_leave_the_planner_real_statistics(monkeypatch):
    monkeypatch.setattr(cycle, "ANALYZE_AFTER_ADDED", 1000)
    smile = FakeSmile()
    smile.add_many(3000)
    merchant = Merchant.objects.create(slug="big", name="Big")
    members = services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)
    # Statistics as they stand (other tests may have analyzed these tables: then with fewer rows).
    before = reltuples(SmileCustomer), reltuples(ListItem)

    run = services.sync_cycle_run(merchant_id=merchant.pk, kind="full", client=smile)

    assert run.status == "succeeded" and run.items_added == 3000
    customers, items = SmileCustomer.objects.count(), ListItem.objects.count()

    def close(estimate: float, real: int) -> bool:
        return abs(estimate - real) <= 0.1 * real

    # (other tests may have left statistics of bigger or smaller tables: either way, not these rows)
    assert not close(before[0], customers) and not close(before[1], items), (before, customers, items)
    assert close(reltuples(SmileCustomer), customers) and close(reltuples(ListItem), items)
    members.refresh_from_db()
    anti_join = _ListSets(members, ALL).added.explain()
    assert not ("Nested Loop" in anti_join and "Seq Scan on lists_listitem" in anti_join), anti_join


def test_the_first_fill_of_an_empty_list_has_no_anti_join(db):
    merchant = Merchant.objects.create(slug="new", name="New")
    members = services.list_create(merchant=merchant, name="Members", audience="all_members", enqueue=False)

    assert "lists_listitem" not in str(_ListSets(members, ALL, empty=True).added.query)
    assert 'NOT (EXISTS(SELECT 1 AS "a" FROM "lists_listitem"' in str(_ListSets(members, ALL).added.query)
