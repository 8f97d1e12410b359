from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "loyalty_lists.web"
    label = "web"
    verbose_name = "Admin pages"
