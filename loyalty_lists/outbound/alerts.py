"""Alerts people receive: by email (Django's mail framework, ``EMAIL_URL``) and as notices on the overview.

Conditions, each evaluated from what the database says now (``conditions_now``):
* ``reconnect``          the Smile connection needs reconnecting (Smile refused the credentials);
* ``list_stale``         a list is stale (its VIP tier vanished), one alert per list;
* ``run_held``           a list has a run held for approval, one per list;
* ``syncs_failing``      the latest cycle failed and none succeeded for ``ALERT_FAILING_SYNC_INTERVALS``
                         sync intervals;
* ``endpoint_disabled``  a webhook endpoint was disabled after sustained failure, one per endpoint.

``alerts_evaluate`` opens an ``Alert`` for a condition that holds and has none open (at most one open per
condition and subject: a constraint), and resolves the open ones that no longer hold. Each alert mails
once when it opens and once when it resolves ("resolved"), to the merchant's staff who did not opt out
(``AlertOptOut``); a mail is claimed before it is sent (two evaluations never both send it) and
un-claimed if sending fails (the next evaluation tries again). Evaluations run after list events and
endpoint disables (``alerts_request``) and every minute (the schedule), which catches the conditions
no event announces (a connection refused mid-sync, syncs failing over time).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from integrations.smile.models import SmileConnection
from loyalty_lists.lists.models import ListRunResult, LoyaltyList, SyncRun
from loyalty_lists.lists.selectors import last_good_sync
from loyalty_lists.merchants.models import Membership, Merchant

from .models import Alert, AlertOptOut, WebhookEndpoint

logger = logging.getLogger(__name__)

Condition = Alert.Condition
TASK = "loyalty_lists.outbound.tasks.alerts_task"
CYCLES = (SyncRun.Kind.DELTA, SyncRun.Kind.FULL)
FINISHED = (SyncRun.Status.SUCCEEDED, SyncRun.Status.HELD, SyncRun.Status.FAILED)


@dataclass(frozen=True)
class Found:
    condition: str
    subject_id: int
    title: str
    message: str
    link: str


def _syncs_failing(merchant_id: int, now: datetime) -> Found | None:
    cycles = SyncRun.objects.filter(merchant_id=merchant_id, kind__in=CYCLES, status__in=FINISHED)
    latest = cycles.order_by("-started_at", "-pk").first()
    if latest is None or latest.status != SyncRun.Status.FAILED:
        return None
    good = last_good_sync(merchant=merchant_id)
    if good is not None:
        since = good.finished_at
    else:
        since = cycles.order_by("started_at", "pk").values_list("started_at", flat=True).first()
    allowed = timedelta(minutes=settings.SYNC_INTERVAL_MINUTES * settings.ALERT_FAILING_SYNC_INTERVALS)
    if since is None or now - since <= allowed:
        return None
    last = f"the last sync succeeded at {since:%Y-%m-%d %H:%M} UTC" if good else "no sync has succeeded yet"
    return Found(
        Condition.SYNCS_FAILING,
        0,
        "Syncs keep failing",
        f"Syncs have been failing for more than {settings.ALERT_FAILING_SYNC_INTERVALS} sync intervals "
        f"({last}). The latest error: {latest.error_message or 'unknown'}. Lists keep their last good data.",
        "/runs/",
    )


def conditions_now(merchant_id: int, now: datetime) -> list[Found]:
    found = []
    connection = SmileConnection.objects.filter(merchant_id=merchant_id).first()
    if connection is not None and connection.status == SmileConnection.Status.NEEDS_RECONNECT:
        found.append(
            Found(
                Condition.RECONNECT,
                0,
                "Smile connection needs reconnecting",
                "Smile no longer accepts the stored credentials"
                f"{': ' + connection.last_error_message if connection.last_error_message else ''}. "
                "Lists stop updating until someone reconnects Smile.",
                "/integrations/smile/",
            )
        )
    for lst in LoyaltyList.objects.filter(merchant_id=merchant_id, stale_since__isnull=False).order_by("pk"):
        found.append(
            Found(
                Condition.LIST_STALE,
                lst.pk,
                f"List “{lst.name}” is stale",
                lst.stale_reason,
                f"/lists/{lst.pk}/",
            )
        )
    holds = (
        ListRunResult.objects.filter(
            merchant_id=merchant_id,
            outcome=ListRunResult.Outcome.HELD,
            decision=ListRunResult.Decision.PENDING,
        )
        .select_related("list")
        .order_by("list_id", "-run_id")
    )
    seen = set()
    for hold in holds:
        if hold.list_id in seen:
            continue
        seen.add(hold.list_id)
        found.append(
            Found(
                Condition.RUN_HELD,
                hold.list_id,
                f"List “{hold.list.name}” is held for approval",
                f"Run #{hold.run_id} would remove {hold.removed} of its {hold.list_size} members, more "
                "than the removal guardrail allows. The list keeps its members until an admin approves "
                "or discards the run.",
                f"/lists/{hold.list_id}/",
            )
        )
    failing = _syncs_failing(merchant_id, now)
    if failing is not None:
        found.append(failing)
    disabled = WebhookEndpoint.objects.filter(
        merchant_id=merchant_id, enabled=False, disabled_automatically=True
    )
    for endpoint in disabled.order_by("pk"):
        found.append(
            Found(
                Condition.ENDPOINT_DISABLED,
                endpoint.pk,
                "Webhook endpoint disabled",
                f"Deliveries to {endpoint.url} kept failing, so the endpoint was disabled: "
                f"{endpoint.disabled_reason} Changes wait for it; enable it again once it answers.",
                f"/webhooks/{endpoint.pk}/",
            )
        )
    return found


def alerts_evaluate(merchant_id: int, *, now: datetime | None = None) -> tuple[int, int]:
    """Open and resolve the merchant's alerts, then send their mails; returns ``(opened, resolved)``."""
    now = now or timezone.now()
    found = {(f.condition, f.subject_id): f for f in conditions_now(merchant_id, now)}
    open_alerts = {
        (a.condition, a.subject_id): a
        for a in Alert.objects.filter(merchant_id=merchant_id, resolved_at=None)
    }
    opened = resolved = 0
    for key, f in found.items():
        if key in open_alerts:
            continue
        try:
            with transaction.atomic():
                Alert.objects.create(
                    merchant_id=merchant_id,
                    condition=f.condition,
                    subject_id=f.subject_id,
                    title=f.title[:300],
                    message=f.message,
                    link=f.link,
                    opened_at=now,
                )
            opened += 1
            logger.warning("Alert for merchant %s: %s", merchant_id, f.title)
        except IntegrityError:  # another evaluation opened it a moment ago
            pass
    for key, alert in open_alerts.items():
        if key not in found:
            resolved += Alert.objects.filter(pk=alert.pk, resolved_at=None).update(resolved_at=now)
            logger.info("Alert resolved for merchant %s: %s", merchant_id, alert.title)
    alerts_mail(merchant_id)
    return opened, resolved


def alerts_evaluate_all() -> dict[str, int]:
    """Every merchant that has a Smile connection or an open alert (the minute schedule)."""
    merchants = set(SmileConnection.objects.values_list("merchant_id", flat=True))
    merchants |= set(Alert.objects.filter(resolved_at=None).values_list("merchant_id", flat=True))
    totals = {"merchants": len(merchants), "opened": 0, "resolved": 0}
    for merchant_id in sorted(merchants):
        opened, resolved = alerts_evaluate(merchant_id)
        totals["opened"] += opened
        totals["resolved"] += resolved
    return totals


def alerts_request(merchant_id: int) -> None:
    """Evaluate the merchant's alerts soon, in a task, once the current transaction commits."""
    transaction.on_commit(lambda: async_task(TASK, merchant_id, task_name=f"alerts merchant {merchant_id}"))


def alert_emails_set(*, merchant, user, on: bool) -> None:
    """A staff member turns alert emails on or off for themselves (this merchant)."""
    if on:
        AlertOptOut.objects.filter(merchant=merchant, user=user).delete()
    else:
        AlertOptOut.objects.get_or_create(merchant=merchant, user=user)


# --- mail -------------------------------------------------------------------------------------------
def recipients(merchant_id: int) -> list[str]:
    """Staff of the merchant with an email address who did not opt out."""
    out = AlertOptOut.objects.filter(merchant_id=merchant_id).values("user_id")
    rows = (
        Membership.objects.filter(merchant_id=merchant_id, user__is_active=True)
        .exclude(user_id__in=out)
        .exclude(user__email="")
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )
    return list(dict.fromkeys(rows))


def _message(alert: Alert, merchant: Merchant, *, resolved: bool, to: str) -> mail.EmailMessage:
    site = settings.SITE_URL
    if resolved:
        subject = f"[{merchant.name}] Resolved: {alert.title}"
        body = (
            f"Resolved at {alert.resolved_at:%Y-%m-%d %H:%M} UTC: {alert.title}.\n\nIt was: {alert.message}\n"
        )
    else:
        subject = f"[{merchant.name}] {alert.title}"
        body = f"{alert.message}\n\n{site}{alert.link}\n"
    body += (
        f"\n--\nSmile loyalty lists sends these to {merchant.name}'s staff, once when a problem starts "
        f"and once when it is over. Turn them off for yourself: {site}/alerts/\n"
    )
    return mail.EmailMessage(subject=subject, body=body, to=[to])


def _send(alert: Alert, *, resolved: bool) -> None:
    field = "resolved_mail_at" if resolved else "opened_mail_at"
    claimed = Alert.objects.filter(pk=alert.pk, **{f"{field}__isnull": True}).update(
        **{field: timezone.now()}
    )
    if not claimed:
        return
    alert.refresh_from_db()
    merchant = Merchant.objects.get(pk=alert.merchant_id)
    messages = [_message(alert, merchant, resolved=resolved, to=to) for to in recipients(alert.merchant_id)]
    try:
        if messages:
            with mail.get_connection() as connection:
                connection.send_messages(messages)
    except Exception as exc:  # SMTP down: un-claim, the next evaluation sends it
        Alert.objects.filter(pk=alert.pk).update(**{field: None})
        logger.warning(
            "Alert mail for merchant %s not sent (%s); will retry", alert.merchant_id, type(exc).__name__
        )


def alerts_mail(merchant_id: int) -> None:
    """Send the opening and resolving mails not sent yet."""
    alerts = Alert.objects.filter(merchant_id=merchant_id)
    for alert in alerts.filter(opened_mail_at__isnull=True).order_by("pk"):
        _send(alert, resolved=False)
    waiting = alerts.filter(resolved_at__isnull=False, resolved_mail_at__isnull=True).filter(
        Q(opened_mail_at__isnull=False)
    )
    for alert in waiting.order_by("pk"):
        _send(alert, resolved=True)
