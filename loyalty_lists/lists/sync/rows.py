"""Snapshot upsert rows built from parsed customers, with no Django import.

The full walk builds its rows where it fetches and parses the pages: in the fetch helper process when
one runs (``integrations/smile/fetch_helper.py``), which receives the builder pickled and must not need
Django's settings to unpickle it, or in the chain threads. ``snapshot.row_preparer`` makes the builder
for the current database; ``snapshot.upsert_rows`` writes the rows.
"""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from integrations.smile.types import CustomerData

MEMBER = "member"  # CustomerState.MEMBER (checked by the tests: this module cannot import models)


def email_normalize(email: str | None) -> str:  # membership.email_normalize, without Django (fetch helper)
    return email.strip().lower() if email else ""


Prepared = tuple[int, datetime, datetime, tuple]  # (smile id, updated_at, seen_at, the row but change_seq)


def utc_text(value: datetime | None) -> str | None:
    """A datetime as the ORM writes it on SQLite with ``USE_TZ``: ``str()`` of the naive UTC value."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ")[:-6]  # str() of the naive UTC value, without building it


def as_is(value: datetime | None) -> datetime | None:
    """A datetime for drivers that take aware datetimes themselves (psycopg)."""
    return value


class RowBuilder:
    """``builder(customers, seen_at)`` → one upsert row per customer, in order. Picklable: ``adapt``
    must be a module-level function (``utc_text`` or ``as_is``)."""

    __slots__ = ("merchant_id", "tier_names", "adapt")

    def __init__(self, merchant_id: int, tier_names: dict[int, str], adapt: Callable = utc_text):
        self.merchant_id = merchant_id
        self.tier_names = dict(tier_names)
        self.adapt = adapt

    def __getstate__(self):
        return (self.merchant_id, self.tier_names, self.adapt)

    def __setstate__(self, state) -> None:
        self.merchant_id, self.tier_names, self.adapt = state

    def __call__(self, customers: Iterable[CustomerData], seen_at: datetime) -> list[Prepared]:
        adapt, merchant_id, tier_names = self.adapt, self.merchant_id, self.tier_names
        seen_db = adapt(seen_at)
        prepared = []
        append = prepared.append
        for c in customers:
            tier = c.vip_tier_id
            created = adapt(c.created_at)
            append(
                (
                    c.id,
                    c.updated_at,
                    seen_at,
                    (
                        merchant_id,
                        c.id,
                        email_normalize(c.email),
                        c.state,
                        c.points_balance,
                        tier,
                        None if tier is None else tier_names.get(tier),
                        None if c.vip_tier_expires_at is None else adapt(c.vip_tier_expires_at),
                        created,
                        adapt(c.updated_at),
                        created if c.state == MEMBER else None,
                        seen_db,
                        None,
                        False,  # into the email index at the next publish
                    ),
                )
            )
        return prepared
