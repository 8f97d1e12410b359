from django.urls import path

from . import webhooks

# Included by integrations/smile/urls.py (app_name "smile"): POST /integrations/smile/webhooks
urlpatterns = [
    path("webhooks", webhooks.receive, name="webhooks"),
]
