"""A consumer of the change feed, as the API documents it: it rebuilds every list from the changes alone."""

from loyalty_lists.lists.models import ListItem, LoyaltyList

MOVES = {"joined", "tier_up", "tier_down", "metadata_changed"}


class Lists:
    """``{list_id: {smile_customer_id: (email, vip_tier_name)}}`` rebuilt from feed events."""

    def __init__(self):
        self.lists: dict[int, dict[int, tuple]] = {}
        self.events: list[dict] = []

    def apply(self, event: dict) -> None:
        self.events.append(event)
        kind, list_id = event["kind"], event["list_id"]
        if kind == "list_deleted":
            self.lists.pop(list_id, None)
            return
        members = self.lists.setdefault(list_id, {})
        shopper = event["shopper"]
        if kind in MOVES:
            members[shopper["smile_customer_id"]] = (shopper["email"], shopper["vip_tier_name"])
        elif kind == "left":
            members.pop(shopper["smile_customer_id"], None)

    def follow(self, api, *, after=None, limit=7) -> str:
        """Read ``GET /api/v1/changes`` page by page from ``after`` to the end; returns the cursor."""
        while True:
            params = {"limit": limit} | ({"after": after} if after is not None else {})
            page = api.get("/api/v1/changes", params)
            assert page.status_code == 200, page.content
            body = page.json()
            for event in body["items"]:
                self.apply(event)
            after = body["next_cursor"]
            if not body["has_more"]:
                return after

    def nonempty(self) -> dict:
        return {list_id: members for list_id, members in self.lists.items() if members}


def lists_now(merchant) -> dict:
    """What the lists hold now, in the consumer's terms (empty lists left out)."""
    out: dict[int, dict[int, tuple]] = {}
    for lst in LoyaltyList.objects.filter(merchant=merchant):
        rows = ListItem.objects.filter(list=lst).values_list("smile_customer_id", "email", "vip_tier_name")
        members = {cid: (email, tier) for cid, email, tier in rows}
        if members:
            out[lst.pk] = members
    return out
