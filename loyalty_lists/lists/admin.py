"""Operators' admin for the lists domain. Writes go through services; big tables are read-only."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from . import services
from .models import ListChange, ListItem, ListRunResult, LoyaltyList, SmileCustomer, SyncRun, VipTier


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(LoyaltyList)
class LoyaltyListAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "merchant",
        "audience",
        "vip_tier_id",
        "item_count",
        "stale_since",
        "last_published_at",
    )
    list_filter = ("audience",)
    search_fields = ("name", "merchant__slug")
    readonly_fields = (
        "stale_since",
        "stale_reason",
        "item_count",
        "last_published_at",
        "created_at",
        "created_by",
    )


@admin.register(VipTier)
class VipTierAdmin(ReadOnlyAdmin):
    list_display = ("name", "smile_id", "merchant", "milestone", "exists_in_smile", "last_seen_at")
    list_filter = ("exists_in_smile",)


@admin.register(SmileCustomer)
class SmileCustomerAdmin(ReadOnlyAdmin):
    list_display = ("smile_id", "email", "merchant", "state", "points_balance", "vip_tier_name", "gone_at")
    search_fields = ("=email", "=smile_id")
    show_full_result_count = False


@admin.register(ListItem)
class ListItemAdmin(ReadOnlyAdmin):
    list_display = ("email", "list", "smile_customer_id", "state", "points_balance", "vip_tier_name")
    search_fields = ("=email",)
    show_full_result_count = False


class ListRunResultInline(admin.TabularInline):
    model = ListRunResult
    extra = 0
    can_delete = False
    fields = ("list", "outcome", "added", "removed", "changed", "list_size", "decision", "decided_by")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "merchant",
        "kind",
        "status",
        "started_at",
        "finished_at",
        "customers_fetched",
        "items_added",
        "items_removed",
        "items_changed",
    )
    list_filter = ("kind", "status")
    inlines = [ListRunResultInline]


@admin.register(ListRunResult)
class ListRunResultAdmin(ReadOnlyAdmin):
    list_display = ("run", "list", "outcome", "removed", "list_size", "decision", "decided_by", "decided_at")
    list_filter = ("outcome", "decision")
    actions = ["approve", "discard"]

    def _decide(self, request, queryset, service, verb):
        for result in queryset.filter(decision=ListRunResult.Decision.PENDING):
            try:
                service(result=result, user=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{result.list}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{result.list}: held run {verb}.")

    @admin.action(description="Approve the held run (apply its removals)")
    def approve(self, request, queryset):
        self._decide(request, queryset, services.held_run_approve, "approved")

    @admin.action(description="Discard the held run (keep the list as it is)")
    def discard(self, request, queryset):
        self._decide(request, queryset, services.held_run_discard, "discarded")


@admin.register(ListChange)
class ListChangeAdmin(ReadOnlyAdmin):
    list_display = ("email", "list", "kind", "previous_vip_tier_name", "vip_tier_name", "run", "created_at")
    list_filter = ("kind",)
    show_full_result_count = False
