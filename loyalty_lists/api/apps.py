from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "loyalty_lists.api"
    label = "api"
    verbose_name = "JSON API"

    def ready(self):
        from . import checks  # noqa: F401 - registers the settings checks
