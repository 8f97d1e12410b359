from django.urls import path

from . import views

# Mounted at the root (loyalty_lists/urls.py), before the admin's "admin/" (the Fleet page lives there).
urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("admin/fleet/", views.fleet_view, name="fleet"),
]
