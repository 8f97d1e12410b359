from django.contrib import admin

from .keys import api_key_revoke
from .models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Operators see keys and can revoke them; keys are created on the API keys page or with
    ``manage.py create_api_key`` (the only places their secret is shown). The hash is never displayed."""

    list_display = ("name", "merchant", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("merchant",)
    search_fields = ("name", "prefix", "merchant__name", "merchant__slug")
    fields = ("merchant", "name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row keeps the key's history

    @admin.action(description="Revoke the selected API keys", permissions=["change"])
    def revoke(self, request, queryset):
        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(key=key)
        self.message_user(request, "Revoked.")
