"""The outbound side's answers to what the lists domain announces (``lists/signals.py``)."""

from .alerts import alerts_request
from .kick import dispatch_kick


def on_changes_recorded(sender, *, merchant_id, list_events=False, **kwargs) -> None:
    """The merchant's feed grew (after commit): wake the dispatcher; list events may open alerts."""
    dispatch_kick(merchant_id)
    if list_events:
        alerts_request(merchant_id)
