"""API keys: one merchant's credential for the JSON API.

A key reads ``sll_<prefix>_<secret>`` (``keys.py``). Only the prefix (public: shown on the keys page,
used to find the row) and the SHA-256 of the secret are stored; the secret itself is shown once, when
the key is created, and never again.
"""

from django.conf import settings
from django.db import models

from loyalty_lists.merchants.models import MerchantOwnedManager


class ApiKey(models.Model):
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False, help_text="SHA-256 of the secret, hex.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = MerchantOwnedManager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["merchant", "-created_at"], name="apikey_merchant")]

    def __str__(self):
        return f"{self.name} (sll_{self.prefix}_…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
