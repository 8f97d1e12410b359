"""Hand-written SELECTs for the API's hot path (key check, lookups).

Building a query with the ORM costs ~10× more CPU than running it (an indexed SELECT on SQLite takes tens
of microseconds; compiling the queryset takes hundreds), and a lookup needs several. So the hot path
writes its few SELECTs by hand — table and column names still come from the models, every value is a
bound parameter — and loads rows with ``Model.from_db`` (real model instances, deferred for the rest).
Everything else in the API uses the ORM. Tests hold these queries to the ORM selectors they mirror.
"""

from functools import cache

from django.db import connection
from django.db.models import DEFERRED, DateTimeField
from django.utils import timezone


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def table(model) -> str:
    return qn(model._meta.db_table)


@cache
def columns(model, fields: tuple[str, ...], alias: str | None = None) -> str:
    prefix = qn(alias) if alias else table(model)
    return ", ".join(f"{prefix}.{qn(model._meta.get_field(f).column)}" for f in fields)


@cache
def column(model, field: str) -> str:
    return qn(model._meta.get_field(field).column)


def placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def fetch(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def aware(value):
    """Datetimes as the ORM would return them: SQLite hands back naive UTC values, PostgreSQL aware ones."""
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value, connection.timezone)
    return value


@cache
def _datetime_positions(model, fields: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(i for i, f in enumerate(fields) if isinstance(model._meta.get_field(f), DateTimeField))


@cache
def _layout(model, fields: tuple[str, ...]) -> tuple[int | None, ...]:
    """For each concrete field of ``model`` (in model order), its position in ``fields`` or None."""
    positions = {model._meta.get_field(f).attname: i for i, f in enumerate(fields)}
    return tuple(positions.get(f.attname) for f in model._meta.concrete_fields)


def fix_datetimes(model, fields: tuple[str, ...], row) -> list:
    values = list(row)
    for i in _datetime_positions(model, fields):
        values[i] = aware(values[i])
    return values


def instance(model, fields: tuple[str, ...], row):
    """A model instance from a row of ``columns(model, fields)`` (the other fields deferred)."""
    values = fix_datetimes(model, fields, row)
    ordered = [DEFERRED if i is None else values[i] for i in _layout(model, fields)]
    return model.from_db(connection.alias, [f.attname for f in model._meta.concrete_fields], ordered)


def rows_as_dicts(model, fields: tuple[str, ...], rows) -> list[dict]:
    return [dict(zip(fields, fix_datetimes(model, fields, row), strict=True)) for row in rows]
