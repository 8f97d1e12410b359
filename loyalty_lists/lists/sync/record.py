"""What runs did to lists, for the history pages, the API and the removal guardrail.

* A cycle records one ``ListRunResult`` per list (published / held / stale) on its own run, in its
  publish transaction (``cycle_record``).
* Webhook refreshes are grouped: every batch of one merchant within the same minute adds to one
  ``SyncRun(kind=webhook)`` and to its ``ListRunResult`` rows (``refresh_run`` / ``refresh_record``), so a
  burst of 600 webhooks is a line or two of history, not 600; the run's ``ListChange`` rows say who
  changed. A batch that holds or stales a list records that on a run of its own.
* ``published_at`` on a published result is the moment it last changed the list: the guardrail counts
  the removals of results published within its window (``publish._recent_removals``).
* A new held result supersedes the list's older pending ones (an approval publishes the whole list
  from the snapshot, so the newest hold covers them all).
* A list that becomes held (no hold of it was pending) gets a ``list_held`` event in the change feed
  (``events.py``); a newer hold of a list already held is the same condition, not a new event.
"""

from datetime import datetime

from django.db.models import F
from django.utils import timezone

from ..events import list_event_record
from ..models import ListChange, ListRunResult, SmileCustomer, SyncRun
from .publish import ListOutcome

Outcome, Decision = ListRunResult.Outcome, ListRunResult.Decision
STALE_BY_REFRESH_NOTE = "Its VIP tier vanished from Smile (seen by a webhook refresh): frozen with its items."


def _supersede(list_ids, now: datetime, *, except_run: SyncRun | None = None) -> None:
    pending = ListRunResult.objects.filter(list_id__in=list(list_ids), decision=Decision.PENDING)
    if except_run is not None:
        pending = pending.exclude(run=except_run)
    pending.update(decision=Decision.SUPERSEDED, decided_at=now)


def _held_events(run: SyncRun, held: list[ListOutcome], now: datetime) -> None:
    """``list_held`` for the lists among ``held`` that had no pending hold (call before superseding)."""
    if not held:
        return
    already = set(
        ListRunResult.objects.filter(
            list_id__in=[o.list_id for o in held], decision=Decision.PENDING
        ).values_list("list_id", flat=True)
    )
    for outcome in held:
        if outcome.list_id not in already:
            list_event_record(
                merchant_id=run.merchant_id,
                list_id=outcome.list_id,
                kind=ListChange.Kind.LIST_HELD,
                now=now,
                run_id=run.pk,
                removed=outcome.removed,
                list_size=outcome.list_size,
                reason=f"Run #{run.pk} would remove {outcome.removed} of {outcome.list_size} items; "
                "it waits for an admin to approve or discard it.",
            )


def _result(run: SyncRun, outcome: ListOutcome, now: datetime) -> ListRunResult:
    return ListRunResult(
        merchant_id=run.merchant_id,
        run=run,
        list_id=outcome.list_id,
        outcome=outcome.outcome,
        added=outcome.added,
        removed=outcome.removed,
        changed=outcome.changed,
        list_size=outcome.list_size,
        note=outcome.note,
        decision=Decision.PENDING if outcome.outcome == Outcome.HELD else "",
        published_at=now if outcome.outcome == Outcome.PUBLISHED else None,
    )


def cycle_record(run: SyncRun, outcomes: list[ListOutcome]) -> None:
    """A cycle's results and totals (call in its publish transaction; the caller saves ``run``)."""
    now = timezone.now()
    _held_events(run, [o for o in outcomes if o.outcome == Outcome.HELD], now)
    _supersede((o.list_id for o in outcomes if o.outcome != Outcome.STALE), now)
    ListRunResult.objects.bulk_create(_result(run, o, now) for o in outcomes)
    published = [o for o in outcomes if o.outcome == Outcome.PUBLISHED]
    run.lists_published = len(published)
    run.items_added = sum(o.added for o in published)
    run.items_removed = sum(o.removed for o in published)
    run.items_changed = sum(o.changed for o in published)
    held = any(o.outcome == Outcome.HELD for o in outcomes)
    run.status = SyncRun.Status.HELD if held else SyncRun.Status.SUCCEEDED


def _minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def refresh_run(*, merchant_id: int, now: datetime) -> SyncRun:
    """The merchant's webhook run of this minute (created by its first batch)."""
    run = (
        SyncRun.objects.filter(
            merchant_id=merchant_id,
            kind=SyncRun.Kind.WEBHOOK,
            status=SyncRun.Status.SUCCEEDED,
            started_at__gte=_minute(now),
        )
        .order_by("-started_at", "-pk")
        .first()
    )
    if run is None:
        run = SyncRun.objects.create(
            merchant_id=merchant_id,
            kind=SyncRun.Kind.WEBHOOK,
            status=SyncRun.Status.SUCCEEDED,
            started_at=now,
            finished_at=now,
        )
    return run


def refresh_record(
    run: SyncRun, outcomes: list[ListOutcome], *, now: datetime, fetched: int, gone: int, calls: int
) -> None:
    """Add one refresh batch to ``run`` (from ``refresh_run``; call in the batch's transaction)."""
    published = [
        o for o in outcomes if o.outcome == Outcome.PUBLISHED and (o.added or o.removed or o.changed)
    ]
    existing = {r.list_id: r for r in ListRunResult.objects.filter(run=run)}
    new = []
    for outcome in published:
        result = existing.get(outcome.list_id)
        if result is None:
            new.append(_result(run, outcome, now))
        else:
            ListRunResult.objects.filter(pk=result.pk).update(
                added=F("added") + outcome.added,
                removed=F("removed") + outcome.removed,
                changed=F("changed") + outcome.changed,
                published_at=now,
            )
    ListRunResult.objects.bulk_create(new)
    SyncRun.objects.filter(pk=run.pk).update(
        customers_fetched=F("customers_fetched") + fetched,
        pages_fetched=F("pages_fetched") + calls,
        customers_gone=F("customers_gone") + gone,
        items_added=F("items_added") + sum(o.added for o in published),
        items_removed=F("items_removed") + sum(o.removed for o in published),
        items_changed=F("items_changed") + sum(o.changed for o in published),
        lists_published=len(existing) + len(new),
        finished_at=now,
    )
    others = [o for o in outcomes if o.outcome in (Outcome.HELD, Outcome.STALE)]
    if others:  # held or staled by this batch: a run of its own, in the history and for the decision
        held = any(o.outcome == Outcome.HELD for o in others)
        event = SyncRun.objects.create(
            merchant_id=run.merchant_id,
            kind=SyncRun.Kind.WEBHOOK,
            status=SyncRun.Status.HELD if held else SyncRun.Status.SUCCEEDED,
            started_at=now,
            finished_at=now,
        )
        for outcome in others:
            if outcome.outcome == Outcome.STALE:
                outcome.note = STALE_BY_REFRESH_NOTE
        _held_events(event, [o for o in others if o.outcome == Outcome.HELD], now)
        _supersede((o.list_id for o in others if o.outcome == Outcome.HELD), now)
        ListRunResult.objects.bulk_create(_result(event, o, now) for o in others)
    run.refresh_from_db()


def refresh_failure_record(*, merchant_id: int, now: datetime, error: str) -> SyncRun:
    """A failed refresh batch: on the merchant's failed webhook run of this minute."""
    runs = SyncRun.objects.filter(
        merchant_id=merchant_id,
        kind=SyncRun.Kind.WEBHOOK,
        status=SyncRun.Status.FAILED,
        started_at__gte=_minute(now),
    )
    run = runs.order_by("-pk").first()
    if run is None:
        return SyncRun.objects.create(
            merchant_id=merchant_id,
            kind=SyncRun.Kind.WEBHOOK,
            status=SyncRun.Status.FAILED,
            started_at=now,
            finished_at=now,
            error_message=error[:2000],
        )
    runs.filter(pk=run.pk).update(error_message=error[:2000], finished_at=now)
    run.refresh_from_db()
    return run


QUARANTINE_KEPT = 50  # records listed on a run (all are counted)


def quarantine_record(run: SyncRun, quarantined) -> None:
    """Malformed customers of a run (call in the transaction of the batch they came with): counted and
    listed on the run (id and why), and *seen* — their snapshot rows stay as they were (their list items
    too), but a full walk must not take them for customers Smile no longer has."""
    ids = [q.id for q in quarantined if q.id is not None]
    if ids:
        SmileCustomer.objects.filter(merchant_id=run.merchant_id, smile_id__in=ids).update(
            last_seen_at=timezone.now()
        )
    if any(q.id is None for q in quarantined):
        run.quarantine_unknown_ids = True  # the full walk then marks nobody gone (see full_walk.py)
    listed = list(run.quarantined or [])
    known = {entry["id"] for entry in listed if entry["id"] is not None}
    new = [q for q in quarantined if q.id is None or q.id not in known]  # (a walk's catch-up pass repeats)
    room = QUARANTINE_KEPT - len(listed)
    listed += [{"id": q.id, "reason": q.reason[:200]} for q in new[: max(room, 0)]]
    run.quarantined = listed
    run.customers_quarantined += len(new)
    SyncRun.objects.filter(pk=run.pk).update(
        quarantined=listed, customers_quarantined=F("customers_quarantined") + len(new)
    )
