"""API key creation, parsing, checking and revocation (the only code that sees a secret).

Shape: ``sll_<prefix>_<secret>`` — ``sll_`` lets secret scanners spot leaked keys; ``prefix`` (12
lowercase letters/digits) is public and finds the row with one indexed query; ``secret`` (40 letters and
digits, ~238 bits) is stored only as its SHA-256. A fast hash is right here: the secret is random and
long (nothing to brute-force) and it is checked on every API call. The comparison is constant-time.
"""

import hashlib
import hmac
import secrets
import string
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import ApiKey

KEY_TAG = "sll"
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
SECRET_ALPHABET = string.ascii_letters + string.digits
PREFIX_LENGTH = 12
SECRET_LENGTH = 40
TOUCH_INTERVAL = timedelta(minutes=1)  # last_used_at is written at most this often per key

CHECKED_FIELDS = ("merchant_id", "prefix", "secret_hash", "last_used_at", "revoked_at")
_DUMMY_HASH = hashlib.sha256(b"no-such-key").hexdigest()


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_key(raw: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` of a well-formed key, else None. Never raises."""
    parts = raw.strip().split("_")
    if len(parts) != 3 or parts[0] != KEY_TAG:
        return None
    prefix, secret = parts[1], parts[2]
    if len(prefix) != PREFIX_LENGTH or any(c not in PREFIX_ALPHABET for c in prefix):
        return None
    if len(secret) != SECRET_LENGTH or any(c not in SECRET_ALPHABET for c in secret):
        return None
    return prefix, secret


def api_key_create(*, merchant, name: str, created_by=None) -> tuple[ApiKey, str]:
    """Create a key; returns ``(key, full_key_text)``. The text is not stored: show it once."""
    name = (name or "").strip()
    if not name:
        raise ValueError("An API key needs a name.")
    secret = _random(SECRET_ALPHABET, SECRET_LENGTH)
    with transaction.atomic():
        while True:  # a prefix collision is astronomically unlikely, but cheap to rule out
            prefix = _random(PREFIX_ALPHABET, PREFIX_LENGTH)
            if not ApiKey.objects.filter(prefix=prefix).exists():
                break
        key = ApiKey.objects.create(
            merchant=merchant,
            name=name[:100],
            prefix=prefix,
            secret_hash=hash_secret(secret),
            created_by=created_by,
        )
    return key, f"{KEY_TAG}_{prefix}_{secret}"


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=key.revoked_at)
    return key


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The live key for ``raw``, or None. One indexed query on the prefix (the columns the check and the
    endpoints use: ``merchant_id`` scopes every query; ``key.merchant`` loads on demand), plus at most one
    ``last_used_at`` update per key per minute."""
    parsed = parse_key(raw)
    if parsed is None:
        return None
    prefix, secret = parsed
    try:
        key = ApiKey.objects.only(*CHECKED_FIELDS).get(prefix=prefix)
    except ApiKey.DoesNotExist:
        key = None
    digest = hash_secret(secret)
    if key is None:
        hmac.compare_digest(digest, _DUMMY_HASH)  # same work whether or not the prefix exists
        return None
    if not hmac.compare_digest(digest, key.secret_hash) or key.revoked_at is not None:
        return None
    _touch(key)
    return key


def _touch(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < TOUCH_INTERVAL:
        return
    # Conditional: when several workers notice at once, the row is still written once a minute at most.
    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - TOUCH_INTERVAL)
    ).update(last_used_at=now)
    key.last_used_at = now
