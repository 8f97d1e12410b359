"""An in-memory Smile for unit tests: the client interface the sync engine uses, over plain dicts.

Pages follow Smile's rules: id-descending keyset cursors, evaluated lazily (data changed between two
pages shows up like on the real API), ``state`` and ``updated_at_min`` filters. Faults: ``fail_at``
makes the N-th page request (counting from now) raise an exception — a ``SmileError`` for a failure,
``SimulatedCrash`` (not an ``Exception``) for a killed worker.
"""

import itertools
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from integrations.smile.errors import SmileUnavailable
from integrations.smile.types import CustomerData, CustomerPage, VipTierData

ANY = object()


class SimulatedCrash(BaseException):  # noqa: N818 - not an error the engine may catch
    """The worker process dies here."""


class FakeSmile:
    def __init__(self):
        self.customers: dict[int, CustomerData] = {}
        self.tiers: dict[int, VipTierData] = {}
        self._ids = itertools.count(1)
        self._tier_ids = itertools.count(101)  # Smile never reuses a tier id
        self._lock = threading.Lock()
        self.page_calls = 0
        self.get_calls = 0
        self.requests: list[dict] = []
        self._fail_at: int | None = None
        self._fail_with: BaseException | None = None
        self._fail_state = ANY
        self._calls_by_state: dict = {}
        self._clock = datetime.now(UTC) - timedelta(days=30)

    # --- data -------------------------------------------------------------------------------------
    def tick(self) -> datetime:
        """Smile's clock: strictly increasing, always in the past of our clock (like a real server)."""
        self._clock = max(self._clock + timedelta(milliseconds=1), datetime.now(UTC) - timedelta(seconds=1))
        return self._clock

    def add_tier(self, name: str, milestone: float, tier_id: int | None = None) -> int:
        tier_id = tier_id or next(self._tier_ids)
        self.tiers[tier_id] = VipTierData(id=tier_id, name=name, milestone=milestone)
        return tier_id

    def rename_tier(self, tier_id: int, name: str) -> None:
        self.tiers[tier_id] = replace(self.tiers[tier_id], name=name)

    def delete_tier(self, tier_id: int) -> VipTierData:
        return self.tiers.pop(tier_id)

    def add(
        self,
        email: str | None = "a@example.com",
        state: str = "member",
        points: int = 0,
        tier: int | None = None,
        expires: datetime | None = None,
        customer_id: int | None = None,
    ) -> int:
        now = self.tick()
        cid = customer_id or next(self._ids)
        self.customers[cid] = CustomerData(
            id=cid,
            email=email,
            state=state,
            points_balance=points,
            vip_tier_id=tier,
            vip_tier_expires_at=expires,
            created_at=now,
            updated_at=now,
        )
        return cid

    def add_many(self, count: int, **fields) -> list[int]:
        return [self.add(email=f"shopper{n}@example.com", **fields) for n in range(count)]

    def update(self, cid: int, *, touch: bool = True, **fields) -> CustomerData:
        if "points" in fields:
            fields["points_balance"] = fields.pop("points")
        if "tier" in fields:
            fields["vip_tier_id"] = fields.pop("tier")
        if touch:
            fields["updated_at"] = self.tick()
        self.customers[cid] = replace(self.customers[cid], **fields)
        return self.customers[cid]

    def age(self, days: int = 1) -> None:
        """Move every customer's timestamps ``days`` back: data that has been in Smile for a while (so
        a delta window sees only what changes from now on)."""
        shift = timedelta(days=days)
        for cid, c in self.customers.items():
            self.customers[cid] = replace(c, created_at=c.created_at - shift, updated_at=c.updated_at - shift)

    def delete(self, cid: int) -> None:
        del self.customers[cid]

    # --- faults -----------------------------------------------------------------------------------
    def fail_at(self, page_call: int, exc: BaseException | None = None, state=None) -> None:
        """Raise ``exc`` on the ``page_call``-th page request from now (1 = the next one); with
        ``state``, count only the requests of that state's chain."""
        self._fail_state = ANY if state is None else state
        self._fail_at = self._calls(self._fail_state) + page_call
        self._fail_with = exc or SmileUnavailable("Smile is unavailable (injected)", status=503)

    def _calls(self, state) -> int:
        return self.page_calls if state is ANY else self._calls_by_state.get(state, 0)

    def heal(self) -> None:
        self._fail_at = None

    # --- the client interface ---------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def list_vip_tiers(self) -> list[VipTierData]:
        return sorted(self.tiers.values(), key=lambda t: (t.milestone, t.id))

    def get_customer(self, customer_id: int) -> CustomerData | None:
        with self._lock:
            self.get_calls += 1
        return self.customers.get(customer_id)

    @staticmethod
    def cursor_before(customer_id: int) -> str:
        return f"id:{customer_id}"

    def iter_customer_pages(
        self, *, state=None, updated_at_min=None, start_cursor=None, limit=250, first_attempts=None
    ):
        cursor = start_cursor
        while True:
            with self._lock:
                self.page_calls += 1
                self._calls_by_state[state] = self._calls_by_state.get(state, 0) + 1
                self.requests.append({"state": state, "updated_at_min": updated_at_min, "cursor": cursor})
                if self._fail_at is not None and self._calls(self._fail_state) >= self._fail_at:
                    self._fail_at = None
                    raise self._fail_with
                below = int(cursor.split(":")[1]) if cursor else None
                matching = [
                    c
                    for cid, c in sorted(self.customers.items(), reverse=True)
                    if (below is None or cid < below)
                    and (state is None or c.state == state)
                    and (updated_at_min is None or c.updated_at >= updated_at_min)
                ]
            chunk = matching[:limit]
            next_cursor = f"id:{chunk[-1].id}" if len(matching) > limit else None
            yield CustomerPage(customers=chunk, cursor=cursor, next_cursor=next_cursor)
            if next_cursor is None:
                return
            cursor = next_cursor
