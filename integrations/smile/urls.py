from django.urls import include, path

app_name = "smile"
urlpatterns = [
    # Connection pages and OAuth (integrations/smile/views.py)
    path("", include("integrations.smile.connection_urls")),
    # Webhook receiver (integrations/smile/webhooks.py)
    path("", include("integrations.smile.webhook_urls")),
]
