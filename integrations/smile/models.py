"""The merchant's connection to Smile.io: how we authenticate, and how healthy it is.

Secrets (access token, refresh token, API key) are stored encrypted (``crypto.py``) and never leave
this model in clear except through ``access_token()`` / ``refresh_token()``; they are kept out of
``__str__``/``__repr__``, the admin and every page.
"""

from django.conf import settings
from django.db import models

from loyalty_lists.merchants.models import MerchantOwnedManager

from . import crypto


class SmileConnection(models.Model):
    class AuthKind(models.TextChoices):
        OAUTH = "oauth", "OAuth app"
        API_KEY = "api_key", "Private API key"

    class Status(models.TextChoices):
        CONNECTED = "connected", "Connected"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        DISCONNECTED = "disconnected", "Not connected"

    merchant = models.OneToOneField(
        "merchants.Merchant", on_delete=models.CASCADE, related_name="smile_connection"
    )
    auth_kind = models.CharField(max_length=16, choices=AuthKind.choices, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DISCONNECTED)

    # Fernet ciphertexts; never edit or display them.
    access_token_encrypted = models.TextField(blank=True, default="", editable=False)
    refresh_token_encrypted = models.TextField(blank=True, default="", editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Access token expiry (OAuth).")
    scopes = models.CharField(max_length=500, blank=True, help_text="Granted scopes, space-separated.")
    # Smile's account id, when the token response names it (the sandbox does; Smile does not document
    # it) or once a webhook told us. Webhook routing looks connections up by it.
    account_id = models.CharField(max_length=64, blank=True, db_index=True)
    # The account's name, when the token response carries one (``account_name``: the sandbox's does; Smile
    # does not document it). Pages fall back to "Smile account <id>" without it.
    account_name = models.CharField(max_length=200, blank=True)
    # What this connection does beyond Smile's documents, found out by asking it (``capabilities.py``):
    # {name: {"verdict": "verified" | "unsupported" | "available" | "unavailable", "reason", "at"}}.
    capabilities = models.JSONField(default=dict, blank=True)

    connected_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_health_check_at = models.DateTimeField(null=True, blank=True)
    last_health_check_ok = models.BooleanField(null=True, blank=True)
    last_health_check_message = models.CharField(max_length=500, blank=True)
    last_error_message = models.CharField(max_length=1000, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MerchantOwnedManager()

    class Meta:
        verbose_name = "Smile connection"

    def __str__(self):
        return f"Smile connection #{self.pk} ({self.get_status_display()})"

    # --- secrets ------------------------------------------------------------------------------
    def access_token(self) -> str:
        return crypto.decrypt(self.access_token_encrypted) if self.access_token_encrypted else ""

    def refresh_token(self) -> str:
        return crypto.decrypt(self.refresh_token_encrypted) if self.refresh_token_encrypted else ""

    def set_tokens(self, *, access_token: str, refresh_token: str = "") -> None:
        self.access_token_encrypted = crypto.encrypt(access_token) if access_token else ""
        self.refresh_token_encrypted = crypto.encrypt(refresh_token) if refresh_token else ""

    def clear_tokens(self) -> None:
        self.access_token_encrypted = ""
        self.refresh_token_encrypted = ""

    @property
    def has_credentials(self) -> bool:
        return bool(self.access_token_encrypted)

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class UnroutedWebhook(models.Model):
    """Verified webhooks of a Smile account no connection is known to belong to (Smile's token response
    need not name the account). Counted and kept visible for operators — never just ignored — with the
    latest delivery's customer, which ``routing.account_bind`` uses to find the connection it belongs to
    (the one whose API knows that customer) and bind the account to it."""

    account_id = models.CharField(max_length=64, unique=True)
    deliveries = models.PositiveIntegerField(default=0)
    customer_id = models.BigIntegerField()
    customer_email = models.CharField(max_length=254, blank=True)
    customer_updated_at = models.CharField(max_length=40, blank=True)
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField()
    bind_requested_at = models.DateTimeField(null=True, blank=True)
    bound_to = models.ForeignKey(
        SmileConnection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return f"unrouted webhooks of Smile account {self.account_id} ({self.deliveries})"
