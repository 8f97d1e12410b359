"""List events in the change feed: a list became stale or recovered, was held, a held run was approved
or discarded, a list was deleted. Written in the transaction that made them happen, with the merchant's
``SyncState`` row locked (so they take their place in the feed's commit order, see ``ListChange``), and
announced after commit (``signals.changes_recorded``), like the membership changes of a publish.
"""

import logging
from datetime import datetime

from django.db import transaction

from .models import ListChange
from .signals import changes_recorded

logger = logging.getLogger(__name__)

Kind = ListChange.Kind


def changes_announce(merchant_id: int, *, list_events: bool = False) -> None:
    """Once the current transaction commits (now, outside one), announce that the merchant's feed grew.
    Receivers are cheap and idempotent, so a transaction may announce more than once."""
    transaction.on_commit(
        lambda: changes_recorded.send(sender=ListChange, merchant_id=merchant_id, list_events=list_events)
    )


def list_event_record(
    *, merchant_id: int, list_id: int | None, kind: str, now: datetime, **detail
) -> ListChange:
    """One list event (call in the transaction that caused it, with the state row locked)."""
    assert kind in ListChange.LIST_EVENT_KINDS, kind
    event = ListChange.objects.create(
        merchant_id=merchant_id, list_id=list_id, kind=kind, created_at=now, detail=detail or None
    )
    logger.info("List %s: %s %s", list_id or detail.get("deleted_list_id"), kind, detail or "")
    changes_announce(merchant_id, list_events=True)
    return event
