from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "loyalty_lists.accounts"
    label = "accounts"
    verbose_name = "Staff accounts"
