"""Keyset ("seek") pagination for the admin pages: Next / Previous at constant cost on any page.

A page is the ``limit`` rows strictly after (or before) a cursor in the total order ``(key, tie)``
(``tie``: ``id`` unless the ordering names another unique column); the cursor is the boundary row's
``(key, tie)``, encoded opaquely for the query string. No OFFSET and no COUNT(*): each page is one
indexed range scan (``(list, key, tie)`` for list items).

A nullable key (``loyalty_member_since``) is ordered as two segments: the rows with a value, in the
chosen direction, then the rows without one, by id — NULLs come last either way. The cursor records
its segment, so a page may end in the first segment and the next one start in the second.

    page = keyset_page(items, Ordering("points_balance", descending=True), after=request.GET.get("after"))
    page.items, page.next_cursor, page.prev_cursor
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from django.db import models
from django.db.models import F, Q, QuerySet
from django.utils.dateparse import parse_datetime


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Ordering:
    field: str
    descending: bool = False
    nullable: bool = False
    tag: str = ""  # cursors carry it: a cursor of another ordering is rejected
    tie: str = "id"  # breaks ties of the key: unique within the rows paged (the NULL segment uses id)

    @property
    def segments(self) -> tuple[int, ...]:
        return (0, 1) if self.nullable else (0,)


@dataclass
class Page:
    items: list
    next_cursor: str | None
    prev_cursor: str | None

    @property
    def has_other_pages(self) -> bool:
        return bool(self.next_cursor or self.prev_cursor)


def encode_cursor(ordering: Ordering, segment: int, value, pk: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    data = {"t": ordering.tag, "s": segment, "v": value, "id": pk}
    if ordering.tie != "id":
        data["k"] = ordering.tie  # ``id`` holds the tie column's value
    raw = json.dumps(data, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(ordering: Ordering, token: str, model) -> tuple[int, object, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        segment, value, pk = data["s"], data["v"], data["id"]
        if (
            data["t"] != ordering.tag
            or data.get("k", "id") != ordering.tie
            or segment not in ordering.segments
            or not isinstance(pk, int)
        ):
            raise InvalidCursor("The cursor belongs to another ordering.")
        if segment == 1:
            value = None
        elif isinstance(model._meta.get_field(ordering.field), models.DateTimeField):
            value = parse_datetime(value) if isinstance(value, str) else None
            if value is None:
                raise InvalidCursor("Malformed cursor.")
        elif not isinstance(value, int | str):
            raise InvalidCursor("Malformed cursor.")
        return segment, value, pk
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        if isinstance(exc, InvalidCursor):
            raise
        raise InvalidCursor("Malformed cursor.") from exc


def _segment_qs(qs: QuerySet, ordering: Ordering, segment: int) -> QuerySet:
    if not ordering.nullable:
        return qs
    return qs.filter(**{f"{ordering.field}__isnull": segment == 1})


def _order(ordering: Ordering, segment: int, forward: bool) -> tuple[str, ...]:
    desc = ordering.descending != (not forward)  # reading backwards flips the direction
    sign = "-" if desc else ""
    if segment == 1:
        return (f"{sign}id",)
    return (f"{sign}{ordering.field}", f"{sign}{ordering.tie}")


def _beyond(ordering: Ordering, segment: int, value, pk: int, forward: bool) -> Q:
    """Rows strictly after (``forward``) or before the cursor row, within its segment."""
    later = ordering.descending != (not forward)  # True: "smaller values come next"
    strict, loose = ("lt", "lte") if later else ("gt", "gte")
    if segment == 1:
        return Q(**{f"id__{strict}": pk})
    key, tie = ordering.field, ordering.tie
    # "key >= v AND (key > v OR tie > t)": the first term lets the index range-scan from v.
    return Q(**{f"{key}__{loose}": value}) & (
        Q(**{f"{key}__{strict}": value}) | Q(**{f"{tie}__{strict}": pk})
    )


def _cursor_of(ordering: Ordering, row) -> str:
    value = getattr(row, ordering.field)
    segment = 1 if (ordering.nullable and value is None) else 0
    return encode_cursor(ordering, segment, value, row.pk if segment == 1 else getattr(row, ordering.tie))


def _fetch(qs, ordering, cursor, forward: bool, want: int) -> list:
    """Up to ``want`` rows after/before ``cursor`` (None: from the start/end), in reading order."""
    segments = ordering.segments if forward else tuple(reversed(ordering.segments))
    rows: list = []
    started = cursor is None
    for segment in segments:
        if not started:
            if segment != cursor[0]:
                continue
            started = True
            part = _segment_qs(qs, ordering, segment).filter(_beyond(ordering, segment, *cursor[1:], forward))
        else:
            part = _segment_qs(qs, ordering, segment)
        rows += list(part.order_by(*_order(ordering, segment, forward))[: want - len(rows)])
        if len(rows) >= want:
            break
    return rows


def keyset_page(
    qs: QuerySet, ordering: Ordering, *, after: str | None = None, before: str | None = None, limit: int = 50
) -> Page:
    """One page of ``qs`` in ``ordering``. ``after``/``before``: a cursor from a previous page.
    Raises ``InvalidCursor`` for a cursor that is malformed or belongs to another ordering."""
    if after:
        rows = _fetch(qs, ordering, decode_cursor(ordering, after, qs.model), True, limit + 1)
        has_next, has_prev = len(rows) > limit, True
        rows = rows[:limit]
    elif before:
        rows = _fetch(qs, ordering, decode_cursor(ordering, before, qs.model), False, limit + 1)
        has_prev, has_next = len(rows) > limit, True
        rows = list(reversed(rows[:limit]))
    else:
        rows = _fetch(qs, ordering, None, True, limit + 1)
        has_next, has_prev = len(rows) > limit, False
        rows = rows[:limit]
    return Page(
        items=rows,
        next_cursor=_cursor_of(ordering, rows[-1]) if has_next and rows else None,
        prev_cursor=_cursor_of(ordering, rows[0]) if has_prev and rows else None,
    )


def ordered(qs: QuerySet, ordering: Ordering) -> QuerySet:
    """``qs`` in the total order ``keyset_page`` pages through, as one ORDER BY (the CSV export): the key,
    NULLs last either way, then the tie (``id`` for a nullable key, as in its NULL segment)."""
    key = F(ordering.field)
    sign = "-" if ordering.descending else ""
    if ordering.nullable:
        if ordering.tie != "id":
            raise ValueError("A nullable key's rows are tied by id (its NULL segment is ordered by id).")
        key = key.desc(nulls_last=True) if ordering.descending else key.asc(nulls_last=True)
        return qs.order_by(key, f"{sign}id")
    return qs.order_by(f"{sign}{ordering.field}", f"{sign}{ordering.tie}")
