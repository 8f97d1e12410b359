"""``Authorization: Bearer sll_<prefix>_<secret>`` for the JSON API.

``request.auth`` is the ``ApiKey`` (its ``merchant`` loaded): every endpoint scopes its queries to
``request.auth.merchant``. The header's value is never logged (ninja's own ``HttpBearer`` logs an
unexpected header in DEBUG, which would leak a key sent with the wrong scheme — hence ``__call__`` here).
"""

from ninja.security import HttpBearer

from .keys import api_key_authenticate

MAX_HEADER_LENGTH = 200


class ApiKeyAuth(HttpBearer):
    def __call__(self, request):
        value = request.META.get("HTTP_AUTHORIZATION") or ""  # request.headers builds a dict of them all
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token or len(value) > MAX_HEADER_LENGTH:
            return None
        return self.authenticate(request, token.strip())

    def authenticate(self, request, token):
        return api_key_authenticate(token)
