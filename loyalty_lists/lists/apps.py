from django.apps import AppConfig


class ListsConfig(AppConfig):
    name = "loyalty_lists.lists"
    label = "lists"
    verbose_name = "Loyalty lists"
