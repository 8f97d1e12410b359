from django.apps import AppConfig


class SmileConfig(AppConfig):
    name = "integrations.smile"
    label = "smile"
    verbose_name = "Smile.io"
