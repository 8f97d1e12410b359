from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "loyalty_lists.api"
    label = "api"
    verbose_name = "JSON API"
