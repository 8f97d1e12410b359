"""The JSON API: ``NinjaAPI`` at /api/v1 (OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs).

Every call: Django's middleware -> API key (``auth.py``) -> per-key rate limit (``ratelimit.py``) -> body
size check -> the body, JSON only (``JsonParser``) -> the endpoint, which reads through the lists
domain's selectors and writes through its services, always scoped to the key's merchant -> ninja
validates the answer against its schema. Errors: ``errors.py``.
"""

import json

from django.conf import settings
from ninja import NinjaAPI
from ninja.parser import Parser

from .auth import ApiKeyAuth
from .docs import OfflineSwagger
from .endpoints.changes import router as changes_router
from .endpoints.items import router as items_router
from .endpoints.lists import router as lists_router
from .endpoints.lookups import router as lookups_router
from .endpoints.sync_runs import router as sync_runs_router
from .endpoints.webhook_endpoints import router as webhook_endpoints_router
from .errors import PayloadTooLarge, UnsupportedMediaType, register_handlers
from .ratelimit import ApiKeyThrottle

DESCRIPTION = """\
Lists of a merchant's Smile.io loyalty shoppers, and workflow-condition lookups by email.

**Authentication**: `Authorization: Bearer sll_…` with an API key from the *API keys* page (or
`manage.py create_api_key`). A key sees only its merchant's lists.

**Errors** are always `{"error": {"code", "message"}}` (422 adds `details`: which field, why). Each
operation lists the statuses it can answer.

**Request bodies** are JSON: `Content-Type: application/json` (anything else is a 415).

**Emails** must be email addresses (`ann@example.com`; spaces and tabs around them are ignored) and are
compared trimmed and case-insensitively, as the sync stores them. One email can belong to several Smile
customers: lookups answer with every matching item, ordered by Smile customer id.

**Times** are ISO 8601 in UTC, to the second, ending in `Z`: `2026-12-06T19:31:00Z`.

**Change feed and webhooks**: `GET /changes` lists every change of the lists in commit order behind a
durable cursor; webhook endpoints get the same changes POSTed in signed batches (Standard Webhooks:
verify `webhook-signature` with the endpoint's `whsec_` secret, deduplicate by `webhook-id`, expect
`data.sequence` to grow by one).

**Freshness**: `as_of` is the start of the merchant's last good sync cycle — every change made in Smile
before then is in the lists. A list whose VIP tier vanished from Smile is frozen and reports `stale`.
"""


class JsonParser(Parser):
    """Request bodies are JSON and say so: any other (or no) content type is a 415, never parsed."""

    def parse_body(self, request):
        if request.content_type != "application/json":
            raise UnsupportedMediaType(request.content_type)
        return json.loads(request.body)


class LoyaltyListsAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation):
        return operation.view_func.__name__

    def create_temporal_response(self, request):
        # Runs after authentication and rate limiting, before the body is read.
        limit = settings.API_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit or len(request.body) > limit:
            raise PayloadTooLarge()
        return super().create_temporal_response(request)


api = LoyaltyListsAPI(
    title="Smile loyalty lists API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api-v1",
    docs=OfflineSwagger(),
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=ApiKeyAuth(),
    parser=JsonParser(),
    throttle=[ApiKeyThrottle()],
)
register_handlers(api)
api.add_router("/lists", lists_router, tags=["lists"])
api.add_router("/lists", items_router, tags=["items"])
api.add_router("/lookups", lookups_router, tags=["lookups"])
api.add_router("/sync-runs", sync_runs_router, tags=["sync runs"])
api.add_router("/changes", changes_router, tags=["change feed"])
api.add_router("/webhook-endpoints", webhook_endpoints_router, tags=["webhook endpoints"])
