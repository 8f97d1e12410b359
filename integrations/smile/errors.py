"""Typed errors raised by the Smile client and connection code. Nothing else escapes them.

Callers catch ``SmileError`` for "Smile did not give us good data"; the subclasses say why.
Messages are safe to show to merchants and to log: they never contain tokens or secrets.
"""


class SmileError(Exception):
    """Base class. ``status`` is the HTTP status when there was one; ``request_id`` is Smile's."""

    def __init__(self, message: str, *, status: int | None = None, request_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        if self.request_id:
            parts.append(f"[Smile request {self.request_id}]")
        return " ".join(parts)


class SmileAuthError(SmileError):
    """The credentials no longer work: 401 after one refresh, or ``invalid_grant`` on refresh.

    The connection is marked "needs reconnect"; retrying is pointless until an admin reconnects.
    """


class SmileScopeError(SmileError):
    """403: authenticated, but a required scope was not granted."""


class SmileNotFound(SmileError):
    """404."""


class SmileRateLimited(SmileError):
    """429 that persisted through every allowed retry."""


class SmileUnavailable(SmileError):
    """5xx or timeouts / connection errors that persisted through every allowed retry."""


class SmileBadResponse(SmileError):
    """A 2xx whose body is not the JSON shape Smile documents (garbage, truncated, wrong types)."""


class SmileApiError(SmileError):
    """Any other 4xx (400, 422, ...): our request was wrong; never retried."""


class SmileNotConnected(SmileError):
    """The merchant has no usable Smile connection (never connected, or disconnected)."""


def error_text(exc: BaseException) -> str:
    """What a run records and shows about its failure: a Smile error's own (safe) message, or the
    exception's type and text."""
    if isinstance(exc, SmileError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
