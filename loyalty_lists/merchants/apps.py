from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "loyalty_lists.merchants"
    label = "merchants"
    verbose_name = "Merchants"
