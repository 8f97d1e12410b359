"""JSON rendering of Smile objects, tuned for speed.

Customers are stored with a pre-rendered ``base`` fragment (every field except ``vip_status``, without
the closing brace) so list pages are served by string-joining rows. ``vip_status`` depends on the tier
table (next tier, deltas), so it is rendered per request from a few raw columns and a ``TierIndex``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

DAY_MS = 86_400_000
_DAY_CACHE: dict[int, str] = {}
_HMS: dict[int, str] = {}


def iso_ms(ms: int) -> str:
    """Epoch milliseconds -> ``2024-04-04T15:10:42.030Z`` (UTC, milliseconds, Z)."""
    days, rem = divmod(ms, DAY_MS)
    day = _DAY_CACHE.get(days)
    if day is None:
        day = time.strftime("%Y-%m-%d", time.gmtime(days * 86_400))
        _DAY_CACHE[days] = day
    secs, milli = divmod(rem, 1000)
    hms = _HMS.get(secs)
    if hms is None:
        hms = _HMS[secs] = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    return f"{day}T{hms}.{milli:03d}Z"


def parse_iso(value: str) -> int:
    """ISO 8601 -> epoch ms. Naive values are taken as UTC. Raises ValueError when invalid."""
    value = value.strip()
    if not value or value[0] in "+-":
        raise ValueError("empty or signed timestamp")
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def now_ms() -> int:
    return int(time.time() * 1000)


def year_end(year: int) -> str:
    return f"{year}-12-31T23:59:59.999Z"


def jstr(value: str | None) -> str:
    return "null" if value is None else json.dumps(value, ensure_ascii=False)


def num(value: float | int | None) -> str:
    """Render a number like Smile's examples: 300, 212.5 (two decimals at most), or null."""
    if value is None:
        return "null"
    value = round(value, 2)
    return str(int(value)) if value == int(value) else repr(float(value))


def jint(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def render_base(c: dict) -> str:
    """Every customer field except vip_status, as a JSON object missing its closing brace."""
    return (
        f'{{"id":{c["id"]},"first_name":{jstr(c["first_name"])},"last_name":{jstr(c["last_name"])},'
        f'"email":{jstr(c["email"])},"state":{jstr(c["state"])},"date_of_birth":{jstr(c["date_of_birth"])},'
        f'"points_balance":{int(c["points_balance"])},"referral_url":{jstr(c["referral_url"])},'
        f'"vip_tier_id":{jint(c["vip_tier_id"])},"created_at":"{iso_ms(c["created_at"])}",'
        f'"updated_at":"{iso_ms(c["updated_at"])}"'
    )


@dataclass(frozen=True)
class TierInfo:
    id: int
    name: str
    milestone: float
    image_url: str


class TierIndex:
    """Tiers sorted by milestone, with what vip_status needs: next tier and deltas."""

    def __init__(self, tiers: list[TierInfo], program: str, period_end: str | None):
        self.tiers = sorted(tiers, key=lambda t: (t.milestone, t.id))
        self.program = program
        self.period_end_json = jstr(period_end)
        self.by_id = {t.id: t for t in self.tiers}
        self._plans: dict[int | None, tuple] = {}
        self._next: dict[int | None, TierInfo | None] = {None: self.tiers[0] if self.tiers else None}
        for i, t in enumerate(self.tiers):
            self._next[t.id] = self.tiers[i + 1] if i + 1 < len(self.tiers) else None

    def tier_for(self, progress: float) -> TierInfo | None:
        best = None
        for t in self.tiers:
            if progress >= t.milestone:
                best = t
        return best

    def next_tier(self, tier_id: int | None) -> TierInfo | None:
        return self._next.get(tier_id)

    def _plan(self, tier_id: int | None) -> tuple[str, float | None, float | None, str]:
        """Per-tier constants of vip_status: (head, milestone to retain, next milestone, next id)."""
        plan = self._plans.get(tier_id)
        if plan is None:
            cur, nxt = self.by_id.get(tier_id), self._next.get(tier_id)
            keep = cur.milestone if (cur is not None and self.program == "calendar") else None
            if tier_id is not None and cur is None:  # unknown tier: no next tier either
                nxt = None
            plan = (
                f'{{"vip_tier_id":{jint(tier_id)},"vip_tier_expires_at":',
                keep,
                None if nxt is None else nxt.milestone,
                "null" if nxt is None else str(nxt.id),
            )
            self._plans[tier_id] = plan
        return plan

    def vip_status(self, tier_id: int | None, expires: str | None, progress: float | None) -> str:
        head, keep, next_milestone, next_id = self._plan(tier_id)
        p = progress or 0.0
        retain = "null" if keep is None or keep <= p else num(keep - p)
        delta = "null" if next_milestone is None else (num(next_milestone - p) if next_milestone > p else "0")
        exp = "null" if expires is None else f'"{expires}"'
        return (
            f'{head}{exp},"progress_value":{num(progress)},"current_vip_period_end":{self.period_end_json},'
            f'"delta_to_retain_vip_tier":{retain},"next_vip_tier_id":{next_id},"delta_to_next_vip_tier":{delta}}}'
        )

    def partial(self, tier: TierInfo | None) -> str:
        if tier is None:
            return "null"
        return f'{{"id":{tier.id},"name":{jstr(tier.name)},"image_url":{jstr(tier.image_url)}}}'


def render_customer(base: str, vip: str | None) -> str:
    return base + "}" if vip is None else f'{base},"vip_status":{vip}}}'
