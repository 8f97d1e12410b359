"""Outbound rows, every one owned by a merchant (``FeedHorizon`` and ``DispatchState`` excepted).

``WebhookEndpoint``  where a merchant wants its list changes POSTed; ``cursor`` is the last feed id
                     (``ListChange.id``) turned into a delivery; secrets are encrypted at rest.
``Delivery``         one batch (≤ ``OUTBOUND_BATCH_SIZE`` changes, in feed order) for one endpoint, with its
                     ``sequence`` and frozen body; the outbox itself is the feed (``ListChange``, written in
                     the publish transaction), so a delivery is only ever cut from committed changes.
``DeliveryAttempt``  the delivery log: each POST's status, latency, response excerpt.
``FeedHorizon``      per merchant, the last feed id removed by retention (older cursors get 410).
``Alert``            one open condition (until it resolves) and whether its mails went out.
``AlertOptOut``      a staff member who does not want alert emails for a merchant.
"""

from django.conf import settings
from django.db import models

from loyalty_lists.merchants.models import MerchantOwnedManager


class WebhookEndpoint(models.Model):
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, blank=True, help_text="Kinds to send; empty: every kind.")
    list_ids = models.JSONField(default=list, blank=True, help_text="Lists to send; empty: every list.")
    secret_encrypted = models.TextField(editable=False)
    secret_hint = models.CharField(max_length=16, editable=False, help_text="whsec_ and 4 characters.")
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    disabled_automatically = models.BooleanField(default=False)
    failing_since = models.DateTimeField(null=True, blank=True)
    cursor = models.BigIntegerField(default=0, help_text="Last feed id cut into a delivery.")
    next_sequence = models.PositiveBigIntegerField(default=1)
    dirty = models.BooleanField(default=False, help_text="New changes since the dispatcher last looked.")
    claimed_by = models.CharField(max_length=32, blank=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MerchantOwnedManager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["merchant", "enabled"], name="endpoint_merchant")]

    def __str__(self):
        return f"webhook endpoint #{self.pk} ({self.url})"


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed (gave up)"

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, db_index=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    sequence = models.PositiveBigIntegerField()
    message_id = models.CharField(
        max_length=64, unique=True, help_text="webhook-id: the same on every retry."
    )
    first_change_id = models.BigIntegerField()
    last_change_id = models.BigIntegerField()
    event_count = models.PositiveIntegerField()
    body = models.BinaryField(help_text="The JSON body, exactly as signed and sent on every attempt.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    replay = models.BooleanField(default=False, help_text="An admin asked to send it again.")
    created_at = models.DateTimeField()

    objects = MerchantOwnedManager()

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "sequence"], name="uniq_delivery_sequence"),
        ]
        indexes = [
            # an endpoint's next delivery: its lowest pending sequence
            models.Index(
                fields=["endpoint", "sequence"],
                name="delivery_pending",
                condition=models.Q(status="pending"),
            ),
            # the dispatcher: pending deliveries coming due, across endpoints
            models.Index(
                fields=["next_attempt_at"], name="delivery_due", condition=models.Q(status="pending")
            ),
        ]

    def __str__(self):
        return f"delivery #{self.sequence} of endpoint #{self.endpoint_id} ({self.status})"


class DeliveryAttempt(models.Model):
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, db_index=False)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    replay = models.BooleanField(default=False, help_text="Sent because someone asked for a replay.")

    objects = MerchantOwnedManager()

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self):
        return f"attempt at {self.attempted_at:%Y-%m-%d %H:%M:%S} ({self.status_code or self.error})"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class FeedHorizon(models.Model):
    merchant = models.OneToOneField("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    purged_through = models.BigIntegerField(default=0)
    purged_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"feed of merchant #{self.merchant_id} kept after #{self.purged_through}"


class DispatchState(models.Model):
    """One row: a dispatcher task is queued (``queued_at``), so kicks do not queue more."""

    queued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"dispatcher (queued at {self.queued_at})" if self.queued_at else "dispatcher (idle)"


class Alert(models.Model):
    class Condition(models.TextChoices):
        RECONNECT = "reconnect", "Smile connection needs reconnecting"
        LIST_STALE = "list_stale", "List became stale"
        RUN_HELD = "run_held", "Run held for approval"
        SYNCS_FAILING = "syncs_failing", "Syncs keep failing"
        ENDPOINT_DISABLED = "endpoint_disabled", "Webhook endpoint disabled"

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, db_index=False)
    condition = models.CharField(max_length=32, choices=Condition.choices)
    subject_id = models.BigIntegerField(default=0, help_text="The list or endpoint it is about (0: none).")
    title = models.CharField(max_length=300)
    message = models.TextField()
    link = models.CharField(max_length=300, blank=True)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    opened_mail_at = models.DateTimeField(null=True, blank=True)
    resolved_mail_at = models.DateTimeField(null=True, blank=True)

    objects = MerchantOwnedManager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # one alert per condition until it resolves: no storm
            models.UniqueConstraint(
                fields=["merchant", "condition", "subject_id"],
                condition=models.Q(resolved_at__isnull=True),
                name="one_open_alert",
            )
        ]
        indexes = [models.Index(fields=["merchant", "-opened_at"], name="alert_recent")]

    def __str__(self):
        return f"{self.get_condition_display()} ({'resolved' if self.resolved_at else 'open'})"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class AlertOptOut(models.Model):
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MerchantOwnedManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "user"], name="uniq_alert_opt_out")]

    def __str__(self):
        return f"no alert emails for user #{self.user_id} (merchant #{self.merchant_id})"
