from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "loyalty_lists.ops"
    label = "ops"
    verbose_name = "Operations"
