"""Customer-list cursors in each ``--cursor-mode``.

- ``keyset`` (default): base64 ``id:<id>,direction:next|prev`` like Smile's documented example; any
  cursor of that shape works, including ones a client invents. Opaque cursors issued earlier (before a
  mode switch at runtime) are still accepted.
- ``opaque-400`` / ``opaque-404`` / ``opaque-500``: cursors are opaque tokens; one the sandbox did not
  issue (invented, altered, from another program, or garbage) gets that status with Smile's error body.
- ``opaque-wrong``: opaque tokens too, but one the sandbox did not issue is silently ignored: the answer
  is the first page again (ids above any bound the client meant), as a server that cannot read a cursor
  and falls back to the top would answer.

An opaque cursor is ``base64url(tag || payload XOR keystream)`` with ``tag = HMAC(secret, payload)`` and
``keystream = HMAC(secret, tag)`` (a deterministic, SIV-like construction): the same position always
gives the same cursor, nobody can read or forge one without the secret, and the secret lives in the
``--db`` file so cursors stay valid across a restart that reuses it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct

KEYSET_RE = re.compile(r"id:(\d{1,19}),direction:(next|prev)")
PAYLOAD = struct.Struct(">IQB")  # program, customer id, direction (0 next, 1 prev)
TAG = 16
DIRECTIONS = ("next", "prev")
STATUS = {"opaque-400": 400, "opaque-404": 404, "opaque-500": 500}
MESSAGES = {
    400: "The cursor is invalid.",
    404: "The cursor was not found.",
    500: "Your request could not be completed.",
}


class CursorError(ValueError):
    def __init__(self, status: int):
        super().__init__(MESSAGES[status])
        self.status = status


def encode_keyset(cid: int, direction: str) -> str:
    return base64.b64encode(f"id:{cid},direction:{direction}".encode()).decode()


def decode_keyset(value: str) -> tuple[int, str] | None:
    try:
        raw = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    match = KEYSET_RE.fullmatch(raw)
    return None if match is None else (int(match.group(1)), match.group(2))


class Cursors:
    def __init__(self, secret: bytes):
        self._secret = secret

    def _mac(self, label: bytes, data: bytes) -> bytes:
        return hmac.new(self._secret, label + data, hashlib.sha256).digest()

    def encode_opaque(self, program: int, cid: int, direction: str) -> str:
        payload = PAYLOAD.pack(program, cid, DIRECTIONS.index(direction))
        tag = self._mac(b"tag", payload)[:TAG]
        stream = self._mac(b"key", tag)
        sealed = bytes(a ^ b for a, b in zip(payload, stream, strict=False))
        return base64.urlsafe_b64encode(tag + sealed).rstrip(b"=").decode()

    def decode_opaque(self, program: int, value: str) -> tuple[int, str] | None:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) != TAG + PAYLOAD.size or not value.isascii():
            return None
        tag, sealed = raw[:TAG], raw[TAG:]
        payload = bytes(a ^ b for a, b in zip(sealed, self._mac(b"key", tag), strict=False))
        if not hmac.compare_digest(tag, self._mac(b"tag", payload)[:TAG]):
            return None
        owner, cid, direction = PAYLOAD.unpack(payload)
        if owner != program or direction > 1:
            return None
        return cid, DIRECTIONS[direction]

    def encode(self, mode: str, program: int, cid: int, direction: str) -> str:
        if mode == "keyset":
            return encode_keyset(cid, direction)
        return self.encode_opaque(program, cid, direction)

    def decode(self, mode: str, program: int, value: str) -> tuple[int | None, str]:
        """(after id, direction) for a cursor in this mode; (None, "next") means from the top.
        Raises CursorError for a cursor this mode refuses."""
        if mode == "keyset":
            found = decode_keyset(value) or self.decode_opaque(program, value)
            if found is None:
                raise CursorError(400)
            return found
        found = self.decode_opaque(program, value)
        if found is not None:
            return found
        if mode == "opaque-wrong":
            return None, "next"
        raise CursorError(STATUS[mode])
