"""Opaque keyset cursors: base64url of a small JSON array (the last row's sort key).

Clients must treat them as opaque; a cursor that does not decode to the expected shape is a 400
(``invalid_cursor``), never a 500.
"""

import base64
import binascii
import json
from datetime import datetime

from .errors import ApiError

MAX_LENGTH = 200


def encode(*position) -> str:
    raw = json.dumps(list(position), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid() -> ApiError:
    return ApiError(
        400, "The cursor is not valid: pass a next_cursor from a previous page.", code="invalid_cursor"
    )


def decode(cursor: str, *kinds: type) -> tuple:
    """Decode and check the shape: ``decode(c, int)`` -> ``(id,)``; ``datetime`` items travel as ISO text."""
    if len(cursor) > MAX_LENGTH:
        raise _invalid()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError):
        raise _invalid() from None
    if not isinstance(position, list) or len(position) != len(kinds):
        raise _invalid()
    values = []
    for value, kind in zip(position, kinds, strict=True):
        if kind is int:
            if type(value) is not int or not 0 <= value <= 2**63 - 1:
                raise _invalid()
        elif kind is datetime:
            try:
                value = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                raise _invalid() from None
            if value.tzinfo is None:
                raise _invalid()
        elif not isinstance(value, kind):
            raise _invalid()
        values.append(value)
    return tuple(values)
