"""The bare Django baseline of figure 5: POST an email, one indexed query, JSON out. No auth, no ninja,
no middleware, no schema validation — what the lookup endpoint costs without any framework extras.

    gunicorn -c gunicorn.conf.py bench.baselines.bare:application
    (BENCH_LIST_IDS=1,2,3 and the bench SQLITE_PATH)
"""

import json
import os

os.environ["DJANGO_SETTINGS_MODULE"] = os.environ.get("BENCH_BARE_SETTINGS", "bench.baselines.bare_settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

LIST_IDS = [int(x) for x in os.environ.get("BENCH_LIST_IDS", "1").split(",")]
SQL = (
    "SELECT list_id, smile_customer_id, email, points_balance, vip_tier_id, vip_tier_name, "  # noqa: S608
    "vip_tier_expires_at, state, loyalty_member_since FROM lists_listitem "
    f"WHERE list_id IN ({','.join('%s' for _ in LIST_IDS)}) AND email = %s"
)
COLUMNS = (
    "list_id",
    "smile_customer_id",
    "email",
    "points_balance",
    "vip_tier_id",
    "vip_tier_name",
    "vip_tier_expires_at",
    "state",
    "loyalty_member_since",
)


def lookup(request):
    email = json.loads(request.body)["email"].strip().lower()
    with connection.cursor() as cursor:
        cursor.execute(SQL, [*LIST_IDS, email])
        rows = cursor.fetchall()
    items = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    return JsonResponse({"email": email, "items": items}, json_dumps_params={"default": str})


urlpatterns = [path("api/v1/lookups", lookup)]
application = get_wsgi_application()
