"""Hand-written SELECTs for the API's hot path (key check, lookups).

Building a query with the ORM costs ~10× more CPU than running it (an indexed SELECT on SQLite takes tens
of microseconds; compiling the queryset takes hundreds), and a lookup needs several. So the hot path
writes its few SELECTs by hand — table and column names still come from the models, every value is a
bound parameter — and loads rows as real model instances (deferred for the rest; ``instance``).
Everything else in the API uses the ORM. Tests hold these queries to the ORM selectors they mirror.
"""

from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import DEFERRED, DateTimeField, Model
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init


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


def aware(value, tz=None):
    """Datetimes as the ORM would return them: SQLite hands back naive values in the connection's time
    zone (UTC), PostgreSQL aware ones. ``timezone.make_aware`` without its checks (a hot path)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=tz or connection.timezone)
    return value


@cache
def _datetime_positions(model, fields: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(i for i, f in enumerate(fields) if isinstance(model._meta.get_field(f), DateTimeField))


@cache
def _layout(model, fields: tuple[str, ...]) -> tuple[int | None, ...]:
    """For each concrete field of ``model`` (in model order), its position in ``fields`` or None."""
    positions = {model._meta.get_field(f).attname: i for i, f in enumerate(fields)}
    return tuple(positions.get(f.attname) for f in model._meta.concrete_fields)


def fix_datetimes(model, fields: tuple[str, ...], row, tz=None) -> list:
    """``row`` with its datetimes made aware (``tz``: ``connection.timezone``, looked up once per row
    unless given — a caller converting many rows passes it)."""
    values = list(row)
    positions = _datetime_positions(model, fields)
    if positions:
        tz = tz or connection.timezone
        for i in positions:
            values[i] = aware(values[i], tz)
    return values


def instance(model, fields: tuple[str, ...], row, tz=None):
    """A model instance from a row of ``columns(model, fields)`` (the other fields deferred): what
    ``Model.from_db`` returns, built the way unpickling builds one (``__new__``, then the field values
    into ``__dict__``) — Django's ``__init__`` costs ~8 µs per instance, a lookup loads half a dozen.
    Only for models whose loaded fields are plain attributes and with no ``pre_init`` / ``post_init``
    receivers connected; anything else goes through ``from_db``."""
    values = fix_datetimes(model, fields, row, tz)
    attnames = _plain_attnames(model, fields)
    if attnames is None or pre_init.receivers or post_init.receivers:
        ordered = [DEFERRED if i is None else values[i] for i in _layout(model, fields)]
        return model.from_db(connection.alias, [f.attname for f in model._meta.concrete_fields], ordered)
    obj = model.__new__(model)
    obj.__dict__.update(zip(attnames, values, strict=True))
    state = obj._state = ModelState()
    state.adding = False
    state.db = DEFAULT_DB_ALIAS  # ``connection`` is the default database's
    return obj


@cache
def _plain_attnames(model, fields: tuple[str, ...]) -> tuple[str, ...] | None:
    """The attribute names of ``fields``, or None when ``model`` customises how instances are made or
    a field's attribute is a descriptor that does more than store the value."""
    if model.__init__ is not Model.__init__ or model.from_db.__func__ is not Model.from_db.__func__:
        return None
    attnames = tuple(model._meta.get_field(f).attname for f in fields)
    for name in attnames:
        if type(getattr(model, name, None)) not in (DeferredAttribute, ForeignKeyDeferredAttribute):
            return None
    return attnames


def row_as_dict(model, fields: tuple[str, ...], row, tz=None) -> dict:
    """A row of ``columns(model, fields)`` as ``{field: value}``, datetimes as the ORM returns them."""
    return dict(zip(fields, fix_datetimes(model, fields, row, tz), strict=True))
