"""Tiny request/response types shared by the sandbox handlers (no framework)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

JSON_TYPE = "application/json; charset=utf-8"


class BadForm(ValueError):
    """A form or query repeated a parameter (RFC 6749 forbids that)."""


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""

    def params(self) -> dict[str, str]:
        return single_values(parse_qs(self.query, keep_blank_values=True))

    def form(self) -> dict[str, str]:
        return single_values(parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def json(self) -> dict:
        if not self.body.strip():
            return {}
        value = json.loads(self.body)
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        return value

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    hang_seconds: float | None = None  # hold the connection this long, then drop it unanswered
    stream: Iterator[bytes] | None = None  # sent with chunked transfer encoding instead of body


def single_values(parsed: dict[str, list[str]]) -> dict[str, str]:
    out = {}
    for key, values in parsed.items():
        if len(values) != 1:
            raise BadForm(f"parameter {key!r} was given more than once")
        out[key] = values[0]
    return out


def json_response(status: int, payload, headers: list[tuple[str, str]] | None = None) -> Response:
    body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return Response(status, body.encode("utf-8"), headers=headers or [])


def smile_error(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    """Smile's REST error body: {"error": {"message": ..., "request_id": <uuid>}}."""
    return json_response(status, {"error": {"message": message, "request_id": str(uuid.uuid4())}}, headers)


def html_response(status: int, html: str) -> Response:
    return Response(status, html.encode("utf-8"), "text/html; charset=utf-8", [("Cache-Control", "no-store")])


def redirect(uri: str, params: dict[str, str | None]) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    location = uri + ("&" if "?" in uri else "?") + query
    return Response(302, b"", None, [("Location", location), ("Cache-Control", "no-store")])
