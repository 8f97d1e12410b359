"""The list page's email search on PostgreSQL: the trigram index of migration ``lists.0007_item_search``
exists, answers ``LIKE '%text%'`` for one list, and the page finds what SQLite finds.

Under ``tests/prod/`` (marked ``prod``): run by ``bin/with-services .venv/bin/pytest -m prod`` (``make test``
does). The page's own tests are ``tests/web/``; these add what only PostgreSQL has.
"""

import pytest
from django.db import connection

from loyalty_lists.web.selectors import list_items_filtered
from tests.web.conftest import make_items, make_list


@pytest.fixture(autouse=True)
def _on_postgres(db):
    assert connection.vendor == "postgresql", "run with bin/with-services (DATABASE_URL=postgres://...)"


@pytest.fixture
def merchant(merchant_a):
    return merchant_a[0]


@pytest.fixture
def staff(client, merchant_a):
    client.force_login(merchant_a[1])
    return client


def test_the_trigram_index_exists_on_the_email():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'item_email_trgm'")
        (definition,) = cursor.fetchone()
    assert "USING gin (email gin_trgm_ops)" in definition


def test_a_search_is_answered_from_the_trigram_index(merchant):
    lst = make_list(merchant, "Many")
    make_items(
        lst, [{"email": f"{'lopez' if n % 50 == 0 else 'smith'}{n}@example.org"} for n in range(20_000)]
    )
    query = list_items_filtered(list=lst, search="LOPEZ1").query
    sql, params = query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE lists_listitem")  # as the sync does after a bulk publish
        # a small table: no sequential or ordered scan, so the planner shows which index a search uses
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Bitmap Index Scan on item_email_trgm" in plan, plan


def test_the_page_finds_any_part_of_the_email(staff, merchant):
    lst = make_list(merchant, "Mixed")
    make_items(lst, [{"email": "ana.lopez@example.org"}, {"email": "bob@example.com"}, {"email": "lo@x.io"}])
    body = staff.get(f"/lists/{lst.pk}/", {"q": "LOPEZ"}).content.decode()
    assert ">ana.lopez@example.org<" in body and "bob@" not in body and ">lo@x.io<" not in body
    body = staff.get(f"/lists/{lst.pk}/", {"q": "%"}).content.decode()
    assert "No members match these filters." in body
