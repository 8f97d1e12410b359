"""Small helpers for the hand-written, portable SQL of the snapshot upsert and the publish.

Everything here runs unchanged on SQLite (>= 3.33: ``UPDATE ... FROM``, upsert) and PostgreSQL; the
only dialect difference is the null-safe inequality operator.
"""

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.db.models.sql import Query

from .rows import utc_text


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


def table(model) -> str:
    return qn(model._meta.db_table)


def col(model, field: str) -> str:
    """``"table"."column"``: the form Django's compiler uses, so compiled ``Q`` fragments match."""
    return f"{table(model)}.{qn(model._meta.get_field(field).column)}"


def dt(value: datetime | None):
    """A datetime as the backend stores it (naive UTC text on SQLite), identical to what the ORM writes."""
    return connection.ops.adapt_datetimefield_value(value)


def dt_adapter() -> Callable[[datetime | None], object]:
    """``dt`` for hot loops: on SQLite, the same text as the ORM writes (``rows.utc_text``) without the
    per-call overhead of Django's adapter; elsewhere the driver adapts aware datetimes itself."""
    if connection.vendor != "sqlite" or not settings.USE_TZ:
        return dt
    return utc_text


def distinct_op() -> str:
    """Null-safe "is different from"."""
    return "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"


def where_sql(model, q: Q) -> tuple[str, list]:
    """Compile ``q`` into a WHERE fragment whose columns are qualified by ``model``'s table name."""
    query = Query(model)
    where = query.build_where(q)
    compiler = query.get_compiler(connection=connection)
    sql, params = where.as_sql(compiler, connection)
    return (sql or "1=1"), list(params)


def execute(sql: str, params: list | tuple = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@contextmanager
def raw_execute() -> Iterator[tuple[Callable[[str, list], object], str]]:
    """``(execute, placeholder)`` for a hot statement written with the driver's own placeholder.

    Django's SQLite cursor rewrites every ``%s`` of every statement into ``?`` with a regex: for the
    snapshot upsert (7,500 parameters a statement) that was ~5 % of the writer's time in a full sync.
    On SQLite, ``execute`` is the driver's own, and statements use ``?``; elsewhere it is Django's
    cursor and ``%s``. Errors are Django's exceptions either way; what SQLite's path skips is the
    DEBUG query log and ``execute_wrapper`` hooks, so use it only for bulk writes."""
    with connection.cursor() as cursor:
        if connection.vendor != "sqlite":
            yield cursor.execute, "%s"
            return
        raw = cursor.cursor

        def execute(sql: str, params: list):
            with connection.wrap_database_errors:
                return sqlite3.Cursor.execute(raw, sql, params)

        yield execute, "?"


def fetch_value(sql: str, params: list | tuple = ()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        return row[0] if row else None


def analyze(*models) -> None:
    """Refresh the planner's statistics (PostgreSQL) after a bulk change.

    A table that went from empty to large inside a few transactions still looks empty to the planner
    until autovacuum analyzes it; an anti-join planned against an "empty" table as a sequential scan
    turns quadratic (a 50,000-item first fill took minutes). SQLite plans by index regardless."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {table(model)}")
