from django.apps import AppConfig


class ListsConfig(AppConfig):
    name = "loyalty_lists.lists"
    label = "lists"
    verbose_name = "Loyalty lists"

    def ready(self):
        from integrations.smile import signals

        from . import receivers

        signals.connection_established.connect(
            receivers.on_connection_established, dispatch_uid="lists-connect"
        )
        signals.customer_updated.connect(receivers.on_customer_updated, dispatch_uid="lists-customer-updated")
