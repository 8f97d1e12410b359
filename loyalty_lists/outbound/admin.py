"""Operators' admin for the outbound side: read-only views (merchants manage endpoints on their pages and
through the API); secrets and delivery bodies are never shown."""

from django.contrib import admin

from .models import Alert, Delivery, WebhookEndpoint


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("url", "merchant", "enabled", "failing_since", "cursor", "next_sequence", "created_at")
    list_filter = ("enabled", "disabled_automatically")
    search_fields = ("url", "merchant__slug")
    exclude = ("secret_encrypted", "previous_secret_encrypted")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "endpoint",
        "sequence",
        "status",
        "event_count",
        "attempts",
        "last_status_code",
        "created_at",
    )
    list_filter = ("status",)
    exclude = ("body",)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("title", "merchant", "condition", "opened_at", "resolved_at")
    list_filter = ("condition",)
