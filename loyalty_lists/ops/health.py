"""Readiness: can this process do its work now? Each check answers ``(ok, detail)`` and never raises.

* database: a ``SELECT 1`` on the default connection (``DB_CONNECT_TIMEOUT`` bounds a dead server);
* broker: django-q2's broker answers a ping (Redis: PING; the ORM broker is the database);
* clusters: at least one django-q2 cluster reported its status within the last few seconds (each
  cluster saves it every half second with a 3-second expiry: ``django_q.status.Stat``).
"""

import logging

from django.db import connection
from django_q.brokers import get_broker
from django_q.status import Stat

logger = logging.getLogger(__name__)


def _database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.warning("readyz: the database is not answering: %s", type(exc).__name__)
        return False, f"unreachable ({type(exc).__name__})"
    return True, "ok"


def _broker() -> tuple[bool, str]:
    try:
        if get_broker().ping():
            return True, "ok"
        return False, "no answer to ping"
    except Exception as exc:
        logger.warning("readyz: the task broker is not answering: %s", type(exc).__name__)
        return False, f"unreachable ({type(exc).__name__})"


def _clusters() -> tuple[bool, str]:
    try:
        alive = len(Stat.get_all())
    except Exception as exc:
        return False, f"unknown ({type(exc).__name__})"
    return (alive > 0, f"{alive} alive" if alive else "none seen in the last 3 s")


def readiness() -> dict[str, tuple[bool, str]]:
    """Every check, in order; the clusters are only asked when the broker answers."""
    checks = {"database": _database(), "broker": _broker()}
    checks["clusters"] = _clusters() if checks["broker"][0] else (False, "broker unreachable")
    return checks
