"""Single-customer refresh, triggered by a ``customer/updated`` webhook (the webhook is only a hint).

Re-fetches the customer (``GET /customers/{id}``; 404 = gone from Smile, they leave every list),
upserts the snapshot row and publishes just that customer's items in every non-stale list, recording a
``SyncRun(kind=webhook)`` and its ``ListChange`` rows — all in one short transaction that locks the
merchant's ``SyncState`` row, so it never runs inside a cycle's publish (and vice versa).

It does not take the cycle's lease: a refresh may run while a cycle is fetching. That is safe because
the snapshot upsert only applies data at least as new (Smile's ``updated_at``) as what is stored — a
cycle's older page cannot undo the refresh, and a duplicate or out-of-order webhook changes nothing.
"""

import logging
import uuid

from django.db import transaction
from django.utils import timezone

from loyalty_lists.logging import correlation_id as correlation_scope

from ..models import SyncRun, SyncRunList
from .cycle import error_text
from .publish import publish_customer
from .snapshot import index_emails, tombstone_customers, upsert_customers
from .state import seq_next, state_ensure, state_lock
from .tiers import tier_names

logger = logging.getLogger(__name__)


def customer_refresh(
    *, merchant_id: int, smile_customer_id: int, client=None, correlation_id=None
) -> SyncRun:
    cid = correlation_id or f"webhook-{merchant_id}-{uuid.uuid4().hex[:10]}"
    with correlation_scope(cid):
        state = state_ensure(merchant_id)
        run = SyncRun.objects.create(
            merchant_id=merchant_id,
            kind=SyncRun.Kind.WEBHOOK,
            started_at=timezone.now(),
            smile_customer_id=smile_customer_id,
            correlation_id=cid,
        )
        try:
            if client is None:
                from integrations.smile.client import client_for_merchant

                with client_for_merchant(state.merchant, correlation_id=cid) as real_client:
                    customer = real_client.get_customer(smile_customer_id)
            else:
                customer = client.get_customer(smile_customer_id)
            seen_at = timezone.now()
            with transaction.atomic():
                state_lock(merchant_id)
                seq = seq_next(merchant_id)
                if customer is None:
                    run.customers_gone = tombstone_customers(
                        merchant_id, [smile_customer_id], now=seen_at, seq=seq
                    )
                else:
                    upsert_customers(
                        merchant_id, [(customer, seen_at)], seq=seq, tier_names=tier_names(merchant_id)
                    )
                    index_emails(merchant_id, smile_customer_id)
                    run.customers_fetched = 1
                outcomes = publish_customer(
                    merchant_id=merchant_id, smile_id=smile_customer_id, run=run, now=seen_at
                )
                touched = [o for o in outcomes if o.added or o.removed or o.changed]
                SyncRunList.objects.bulk_create(
                    SyncRunList(
                        merchant_id=merchant_id,
                        run=run,
                        list_id=o.list_id,
                        outcome=o.outcome,
                        added=o.added,
                        removed=o.removed,
                        changed=o.changed,
                    )
                    for o in touched
                )
                run.lists_published = len(touched)
                run.items_added = sum(o.added for o in outcomes)
                run.items_removed = sum(o.removed for o in outcomes)
                run.items_changed = sum(o.changed for o in outcomes)
                run.pages_fetched = 1
                run.status = SyncRun.Status.SUCCEEDED
                run.finished_at = timezone.now()
                run.save()
        except Exception as exc:
            logger.warning("Webhook refresh of customer %s failed: %s", smile_customer_id, error_text(exc))
            run.status = SyncRun.Status.FAILED
            run.error_message = error_text(exc)[:2000]
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "error_message", "finished_at"])
        logger.info(
            "Webhook refresh of customer %s: %s (+%s -%s ~%s)",
            smile_customer_id,
            run.status,
            run.items_added,
            run.items_removed,
            run.items_changed,
        )
        return run
