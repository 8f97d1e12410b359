"""Examples in the OpenAPI document: one or more per request body and per answer (the docs page shows
them; schemathesis sends the request examples first)."""

ITEM = {
    "smile_customer_id": 426715183,
    "email": "ann@example.com",
    "points_balance": 250,
    "vip_tier_id": 12,
    "vip_tier_name": "Gold",
    "vip_tier_expires_at": None,
    "state": "member",
    "loyalty_member_since": "2025-01-30T12:00:00Z",
}

ERROR_OUT = [
    {
        "error": {
            "code": "validation_error",
            "message": "email: must be an email address, like ann@example.com",
            "details": [
                {
                    "field": "email",
                    "location": "body",
                    "message": "must be an email address, like ann@example.com",
                    "type": "value_error",
                }
            ],
        }
    }
]

LIST_OUT = [
    {
        "id": 7,
        "name": "Gold shoppers",
        "audience": "vip_tier",
        "vip_tier": {"id": 12, "name": "Gold"},
        "member_count": 1843,
        "stale": None,
        "last_synced_at": "2026-12-06T19:31:00Z",
    }
]

LIST_IN = [
    {"name": "Loyal shoppers", "audience": "all_members"},
    {"name": "Gold shoppers", "audience": "vip_tier", "vip_tier_id": 12},
]

ITEM_PAGE = [{"items": [ITEM], "next_cursor": "1042"}]

MEMBERSHIP_OUT = [
    {
        "list_id": 7,
        "email": "ann@example.com",
        "member": False,
        "item": None,
        "items": [],
        "as_of": "2026-12-06T19:30:00Z",
        "stale": None,
        "reason": ("The shopper is in another VIP tier (#11). Last seen in Smile: 2026-12-06 19:30 UTC."),
        "reason_code": "other_tier",
    }
]

LOOKUP_IN = [{"email": "ann@example.com"}, {"email": "Ann@Example.com", "list_ids": [7, 9]}]

LOOKUP_OUT = [
    {
        "email": "ann@example.com",
        "as_of": "2026-12-06T19:30:00Z",
        "results": [
            {
                "list_id": 7,
                "name": "Gold shoppers",
                "member": True,
                "stale": None,
                "item": ITEM,
                "items": [ITEM],
                "reason": None,
                "reason_code": None,
            }
        ],
    }
]

SYNC_RUN_PAGE = [
    {
        "items": [
            {
                "id": 311,
                "kind": "delta",
                "status": "succeeded",
                "queued_at": "2026-12-06T19:29:58Z",
                "started_at": "2026-12-06T19:30:00Z",
                "finished_at": "2026-12-06T19:30:02Z",
                "customers_fetched": 42,
                "lists_published": 3,
                "items_added": 2,
                "items_removed": 1,
                "items_changed": 7,
                "customers_gone": 0,
                "error": None,
            }
        ],
        "next_cursor": "1796585400000000-311",
    }
]
