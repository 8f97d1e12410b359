from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "loyalty_lists.outbound"
    label = "outbound"
    verbose_name = "Outbound: change feed, webhooks, alerts"

    def ready(self):
        from loyalty_lists.lists import signals

        from . import receivers

        signals.changes_recorded.connect(receivers.on_changes_recorded, dispatch_uid="outbound-changes")
