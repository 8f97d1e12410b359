from django.urls import path

from .views import home, keys, list_detail, lists, runs, shoppers

app_name = "web"
urlpatterns = [
    path("", home.home, name="home"),
    # Lists
    path("lists/", lists.list_index, name="list_index"),
    path("lists/new/", lists.list_create, name="list_create"),
    path("lists/preview/", lists.list_preview_partial, name="list_preview"),
    path("lists/<int:pk>/", list_detail.list_detail, name="list_detail"),
    path("lists/<int:pk>/edit/", lists.list_edit, name="list_edit"),
    path("lists/<int:pk>/delete/", lists.list_delete, name="list_delete"),
    path("lists/<int:pk>/export.csv", list_detail.list_export, name="list_export"),
    path("lists/<int:pk>/held/<int:result_id>/approve", list_detail.held_approve, name="held_approve"),
    path("lists/<int:pk>/held/<int:result_id>/discard", list_detail.held_discard, name="held_discard"),
    # Sync
    path("runs/", runs.run_index, name="run_index"),
    path("runs/progress/", runs.sync_progress_partial, name="sync_progress"),
    path("runs/<int:pk>/", runs.run_detail, name="run_detail"),
    path("sync-now/", runs.sync_now, name="sync_now"),
    # Shoppers
    path("shoppers/", shoppers.shopper, name="shopper"),
    # API keys (the JSON API's credentials)
    path("api-keys/", keys.key_index, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", keys.key_revoke, name="api_key_revoke"),
]
