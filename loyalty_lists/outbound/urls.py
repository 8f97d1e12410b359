from django.urls import path

from . import views

app_name = "outbound"
urlpatterns = [
    path("webhooks/", views.endpoint_index, name="endpoints"),
    path("webhooks/<int:pk>/", views.endpoint_detail, name="endpoint_detail"),
    path("webhooks/<int:pk>/rotate", views.endpoint_rotate, name="endpoint_rotate"),
    path("webhooks/<int:pk>/enable", views.endpoint_enable, name="endpoint_enable"),
    path("webhooks/<int:pk>/disable", views.endpoint_disable, name="endpoint_disable"),
    path("webhooks/<int:pk>/delete", views.endpoint_delete, name="endpoint_delete"),
    path("webhooks/<int:pk>/deliveries/<int:sequence>/replay", views.delivery_replay, name="delivery_replay"),
    path("alerts/", views.alert_index, name="alerts"),
    path("alerts/emails", views.alert_emails, name="alert_emails"),
]
