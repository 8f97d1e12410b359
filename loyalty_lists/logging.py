"""Correlation ids: every log line of a sync run carries the run's id.

Use ``with correlation_id("run-1234"):`` around a unit of work; the logging filter stamps the
current id (or ``-``) on every record.
"""

import contextvars
import logging
from contextlib import contextmanager

_current: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")


def get_correlation_id() -> str:
    return _current.get()


@contextmanager
def correlation_id(value: str):
    token = _current.set(value)
    try:
        yield value
    finally:
        _current.reset(token)


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = _current.get()
        return True
