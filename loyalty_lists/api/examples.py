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

CHANGE_PAGE = [
    {
        "items": [
            {
                "cursor": "88213",
                "kind": "joined",
                "list_id": 7,
                "run_id": 311,
                "occurred_at": "2026-12-06T19:31:00Z",
                "shopper": {
                    "smile_customer_id": 426715183,
                    "email": "ann@example.com",
                    "vip_tier_name": "Gold",
                    "previous_vip_tier_name": None,
                },
                "list_event": None,
            },
            {
                "cursor": "88214",
                "kind": "list_stale",
                "list_id": 9,
                "run_id": None,
                "occurred_at": "2026-12-06T19:31:00Z",
                "shopper": None,
                "list_event": {
                    "reason": "The VIP tier “Gold” (#12) no longer exists in Smile; the list is frozen "
                    "until it returns.",
                    "removed": None,
                    "added": None,
                    "changed": None,
                    "list_size": None,
                    "vip_tier_id": 12,
                    "name": None,
                },
            },
        ],
        "next_cursor": "88214",
        "has_more": False,
    }
]

ENDPOINT_IN = [
    {"url": "https://hooks.example.com/smile-lists", "description": "CRM sync"},
    {"url": "https://hooks.example.com/vip", "event_types": ["joined", "left", "tier_up"], "list_ids": [7]},
]

FEED_POSITION = [{"cursor": "88214", "oldest_cursor": "0"}]

ENDPOINT_OUT = {
    "id": 3,
    "url": "https://hooks.example.com/smile-lists",
    "description": "CRM sync",
    "event_types": [],
    "list_ids": [],
    "enabled": True,
    "disabled_at": None,
    "disabled_reason": None,
    "failing_since": None,
    "secret_hint": "whsec_Qm9…",
    "previous_secret_expires_at": None,
    "pending_deliveries": 0,
    "created_at": "2026-12-06T19:31:00Z",
}
ENDPOINT_SECRET_OUT = {**ENDPOINT_OUT, "secret": "whsec_Qm9vZ2xlIGl0LCBidXQgbm90IHRoaXMgb25lLCBpdCBpcyBmYWtl"}
