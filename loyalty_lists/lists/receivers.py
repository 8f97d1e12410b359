"""The lists domain's answers to what the Smile integration announces (``integrations/smile/signals.py``)."""

from . import services


def on_connection_established(sender, *, merchant, **kwargs) -> None:
    """A merchant just connected: queue a first cycle."""
    services.sync_enqueue(merchant=merchant)


def on_customer_updated(sender, *, merchant_id, smile_customer_id, smile_updated_at=None, **kwargs) -> str:
    """A verified webhook: queue (or coalesce) the customer's refresh."""
    return services.customer_refresh_request(
        merchant_id=merchant_id, smile_customer_id=smile_customer_id, smile_updated_at=smile_updated_at
    )
