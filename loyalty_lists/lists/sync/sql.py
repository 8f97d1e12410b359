"""Small helpers for the hand-written, portable SQL of the snapshot upsert and the publish.

Everything here runs unchanged on SQLite (>= 3.33: ``UPDATE ... FROM``, upsert) and PostgreSQL; the
only dialect difference is the null-safe inequality operator.
"""

from datetime import datetime

from django.db import connection
from django.db.models import Q
from django.db.models.sql import Query


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
