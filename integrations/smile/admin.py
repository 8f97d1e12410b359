from django.contrib import admin

from .models import SmileConnection, UnroutedWebhook


@admin.register(SmileConnection)
class SmileConnectionAdmin(admin.ModelAdmin):
    """Operators' view of connections. The encrypted secrets are never shown or editable here."""

    list_display = (
        "merchant",
        "status",
        "auth_kind",
        "account_id",
        "expires_at",
        "last_health_check_ok",
        "last_health_check_at",
    )
    list_filter = ("status", "auth_kind", "last_health_check_ok")
    search_fields = ("merchant__name", "merchant__slug", "account_id")
    exclude = ("access_token_encrypted", "refresh_token_encrypted")
    readonly_fields = (
        "merchant",
        "auth_kind",
        "expires_at",
        "scopes",
        "connected_at",
        "connected_by",
        "last_health_check_at",
        "last_health_check_ok",
        "last_health_check_message",
        "last_error_message",
        "last_error_at",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request):
        return False  # connections are made by the OAuth flow, the API-key form or `smile_connect`


@admin.register(UnroutedWebhook)
class UnroutedWebhookAdmin(admin.ModelAdmin):
    """Webhooks of Smile accounts no connection is known to belong to (see ``routing.py``)."""

    list_display = ("account_id", "deliveries", "last_received_at", "bound_to", "bind_requested_at")
    search_fields = ("account_id",)
    readonly_fields = [f.name for f in UnroutedWebhook._meta.fields]
