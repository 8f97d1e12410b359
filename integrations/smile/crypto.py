"""Encryption at rest for Smile secrets (access and refresh tokens, API keys).

``cryptography``'s MultiFernet over ``settings.FIELD_ENCRYPTION_KEYS`` (newest first, separate from
SECRET_KEY). New values are encrypted with the newest key; any listed key decrypts. Rotating keys:
put a new key first, run ``manage.py rotate_encryption_keys``, then drop the old key.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key. Carries no secret."""


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must hold url-safe base64 Fernet keys (32 bytes each)."
        ) from exc


def _fernet() -> MultiFernet:
    # Keyed on the settings value so tests with override_settings see their keys.
    return _fernet_for(tuple(k for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()))


def encrypt(value: str) -> str:
    """Encrypt with the newest key. The result is ASCII text safe for a TextField."""
    return _fernet().encrypt(value.encode()).decode("ascii")


def decrypt(value: str) -> str:
    try:
        return _fernet().decrypt(value.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionError(
            "A stored Smile credential cannot be decrypted with the configured keys."
        ) from exc


def rotate(value: str) -> str:
    """Re-encrypt an encrypted value with the newest key (keeps its original timestamp)."""
    try:
        return _fernet().rotate(value.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionError(
            "A stored Smile credential cannot be decrypted with the configured keys."
        ) from exc
