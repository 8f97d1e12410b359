"""The second baseline of figure 5: the lookup's own work with no framework around it.

Same queries as ``POST /api/v1/lookups`` (the API key, the merchant's lists, the items with the email,
the explanations for non-members, the sync state), the same answer, but a plain Django view: no
middleware, no django-ninja (no schema validation, no throttle, no error contract). The gap between
this and the real endpoint is what the framework costs; the gap between ``baselines/bare.py`` and this
is the work the product does beyond "one indexed query".

    gunicorn -c gunicorn.conf.py bench.baselines.bare_work:application   (the bench SQLITE_PATH)
"""

import json
import os

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.baselines.bare_work_settings"

from django.core.serializers.json import DjangoJSONEncoder  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

application = get_wsgi_application()

from loyalty_lists.api.endpoints.common import LIST_FIELDS, list_answers  # noqa: E402
from loyalty_lists.api.keys import api_key_authenticate  # noqa: E402
from loyalty_lists.lists.membership import email_normalize  # noqa: E402
from loyalty_lists.lists.selectors import lists_as_of, lists_for_merchant  # noqa: E402


def lookup(request):
    key = api_key_authenticate(request.headers.get("Authorization", "").partition(" ")[2])
    if key is None:
        return JsonResponse({"error": "unauthorized"}, status=401)
    email = email_normalize(json.loads(request.body)["email"])
    lists = list(lists_for_merchant(merchant=key.merchant_id).only(*LIST_FIELDS))
    answer = {
        "email": email,
        "as_of": lists_as_of(merchant_id=key.merchant_id),
        "results": list_answers(merchant_id=key.merchant_id, email=email, lists=lists),
    }
    return JsonResponse(answer, encoder=DjangoJSONEncoder)


urlpatterns = [path("api/v1/lookups", lookup)]
