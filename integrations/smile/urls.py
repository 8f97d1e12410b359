"""/integrations/smile/: the connection pages and OAuth (``views.py``) and the webhook receiver
(``webhooks.py``)."""

from django.urls import path

from . import views, webhooks

app_name = "smile"
urlpatterns = [
    path("", views.connection, name="connection"),
    path("connect", views.connect, name="connect"),
    path("oauth/callback", views.oauth_callback, name="oauth_callback"),
    path("disconnect", views.disconnect, name="disconnect"),
    path("api-key", views.api_key, name="api_key"),
    path("check", views.check, name="check"),
    path("webhooks", webhooks.receive, name="webhooks"),  # POST, signed by Smile
]
