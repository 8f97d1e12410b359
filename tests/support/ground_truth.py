"""Ground truth for failure drills: what every list must hold, computed straight from the sandbox's
``GET /_sandbox/export`` with the membership rules (``loyalty_lists/lists/membership.py``), and a
snapshot of everything published, to prove a failed or crashed cycle changed nothing.

    truth = GroundTruth.of(sandbox.export())
    mismatches = truth.mismatches(merchant)     # {} when every non-stale list equals the truth
    before = published(merchant); ...; assert published(merchant) == before
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from integrations.smile.types import CustomerData
from loyalty_lists.lists.membership import email_normalize, is_member
from loyalty_lists.lists.models import ListItem, LoyaltyList


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def export_customers(export: dict) -> list[CustomerData]:
    """The sandbox export's customers as the client would parse them."""
    return [
        CustomerData(
            id=c["id"],
            email=c["email"],
            state=c["state"],
            points_balance=c["points_balance"],
            vip_tier_id=c["vip_tier_id"],
            vip_tier_expires_at=_when(c["vip_tier_expires_at"]),
            created_at=_when(c["created_at"]),
            updated_at=_when(c["updated_at"]),
        )
        for c in export["customers"]
    ]


def export_tier_names(export: dict) -> dict[int, str]:
    return {t["id"]: t["name"] for t in export["vip_tiers"]}


def item_tuple(email, state, points, tier_id, tier_name, expires) -> tuple:
    return (email, state, points, tier_id, tier_name, expires)


@dataclass
class GroundTruth:
    customers: list[CustomerData]
    tier_names: dict[int, str]

    @classmethod
    def of(cls, export: dict) -> "GroundTruth":
        return cls(export_customers(export), export_tier_names(export))

    def expected(self, lst: LoyaltyList) -> dict[int, tuple]:
        return {
            c.id: item_tuple(
                email_normalize(c.email),
                c.state,
                c.points_balance,
                c.vip_tier_id,
                self.tier_names.get(c.vip_tier_id),
                c.vip_tier_expires_at,
            )
            for c in self.customers
            if is_member(lst.audience, lst.vip_tier_id, c)
        }

    def mismatches(self, merchant) -> dict[str, str]:
        """Every non-stale list of ``merchant`` compared with the truth: {list name: what differs}."""
        out = {}
        for lst in LoyaltyList.objects.filter(merchant=merchant, stale_since__isnull=True).order_by("pk"):
            expected, actual = self.expected(lst), actual_items(lst)
            if expected != actual:
                missing = sorted(set(expected) - set(actual))
                extra = sorted(set(actual) - set(expected))
                differ = sorted(k for k in set(expected) & set(actual) if expected[k] != actual[k])
                out[lst.name] = (
                    f"{len(missing)} missing {missing[:5]}, {len(extra)} extra {extra[:5]},"
                    f" {len(differ)} differ {differ[:5]}"
                )
            elif lst.item_count != len(actual):
                out[lst.name] = f"item_count {lst.item_count} != {len(actual)} items"
        return out


def actual_items(lst: LoyaltyList) -> dict[int, tuple]:
    rows = ListItem.objects.filter(list=lst).values_list(
        "smile_customer_id",
        "email",
        "state",
        "points_balance",
        "vip_tier_id",
        "vip_tier_name",
        "vip_tier_expires_at",
    )
    return {cid: item_tuple(*rest) for cid, *rest in rows}


def published(merchant) -> list:
    """Every list row and every item of ``merchant``: equal before and after a cycle that changed nothing."""
    lists = list(
        LoyaltyList.objects.filter(merchant=merchant)
        .order_by("pk")
        .values_list("pk", "vip_tier_id", "stale_since", "item_count", "published_seq", "last_published_at")
    )
    items = sorted(
        ListItem.objects.filter(merchant=merchant).values_list(
            "list_id", "smile_customer_id", "email", "state", "points_balance", "vip_tier_name", "updated_at"
        )
    )
    return [lists, items]
