"""Keyset cursors: the last row's sort key, written as digits so that a pattern says exactly which
cursors the server takes (clients still treat them as opaque: take ``next_cursor``, send it back).

- items: the last item's id (``"1042"``);
- sync runs: the last run's start in Unix microseconds and its id (``"1796585400000000-311"``);
- the change feed and delivery logs: a number (``"88213"``: a feed position; a delivery's sequence).

A cursor that does not match its pattern is a 400 (``invalid_cursor``); one that matches always names
a position, even one no page has handed out (past the end: an empty page).
"""

import re
from datetime import UTC, datetime, timedelta

from .errors import ApiError

INT64_MAX = 2**63 - 1
_NUMBER = "[0-9]{1,19}"
ITEM_CURSOR = f"^{_NUMBER}$"
RUN_CURSOR = f"^{_NUMBER}-{_NUMBER}$"
NUMBER_CURSOR = ITEM_CURSOR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_MICROSECOND = int((datetime.max.replace(tzinfo=UTC) - _EPOCH) / timedelta(microseconds=1))


def _invalid() -> ApiError:
    return ApiError(
        400, "The cursor is not valid: pass a next_cursor from a previous page.", code="invalid_cursor"
    )


def _numbers(cursor: str, pattern: str) -> list[int]:
    if not re.fullmatch(pattern, cursor):
        raise _invalid()
    return [min(int(part), INT64_MAX) for part in cursor.split("-")]


def item_cursor(item_id: int) -> str:
    return str(item_id)


def item_position(cursor: str) -> int:
    """The item id a page starts after."""
    (item_id,) = _numbers(cursor, ITEM_CURSOR)
    return item_id


def run_cursor(started_at: datetime, run_id: int) -> str:
    return f"{(started_at - _EPOCH) // timedelta(microseconds=1)}-{run_id}"


def run_position(cursor: str) -> tuple[datetime, int]:
    """The (start, id) a page of runs, newest first, continues before."""
    micros, run_id = _numbers(cursor, RUN_CURSOR)
    return _EPOCH + timedelta(microseconds=min(micros, _LAST_MICROSECOND)), run_id


def number_position(cursor: str) -> int:
    """The position a feed page (or a page of deliveries) continues after."""
    (value,) = _numbers(cursor, NUMBER_CURSOR)
    return value
