"""Lists, their items, the customer snapshot they are computed from, and the sync bookkeeping.

Every row belongs to one merchant (``merchant`` FK, ``MerchantOwnedManager``). Smile ids (customers,
tiers) are stored as plain integers, never as foreign keys: Smile is the source of truth for them.

How the tables relate (see ``sync/`` for the cycle):

    Smile --fetch--> SmileCustomer (the snapshot, one row per Smile customer, batched upserts)
                     VipTier       (the tier list of the last good cycle)
    snapshot --publish (set-based SQL, one transaction per cycle)--> ListItem + ListChange
    SyncRun / ListRunResult record each cycle and each list's outcome (published / held / stale); a cycle
    asked for is a ``queued`` SyncRun until a worker takes it (at most one per merchant).
    RefreshRequest is a webhook's "this customer changed", coalesced per customer until refreshed.
    SyncState holds the merchant's watermark, change counter and full-walk checkpoint;
    SyncLease makes sure at most one cycle per merchant runs.

(Over 400 lines on purpose: the domain's tables in one module, as Django has them, so their indexes and
constraints — most of the length, each with the query it serves — sit beside the fields they cover.)
"""

from django.conf import settings
from django.db import models

from loyalty_lists.merchants.models import MerchantOwnedManager


class Audience(models.TextChoices):
    ALL_MEMBERS = "all_members", "All loyalty members"
    MEMBERS_AND_CANDIDATES = "members_and_candidates", "All loyalty members & candidates"
    VIP_TIER = "vip_tier", "One VIP tier"


class CustomerState(models.TextChoices):
    MEMBER = "member", "Member"
    CANDIDATE = "candidate", "Candidate"
    DISABLED = "disabled", "Disabled"


class VipTier(models.Model):
    """A Smile VIP tier as of the last good cycle. Kept (``exists_in_smile=False``) when it vanishes."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, db_index=False)
    smile_id = models.BigIntegerField()
    name = models.CharField(max_length=255)
    milestone = models.FloatField(null=True, blank=True)
    exists_in_smile = models.BooleanField(default=True)
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField()

    objects = MerchantOwnedManager()

    class Meta:
        verbose_name = "VIP tier"
        ordering = ["milestone", "smile_id"]
        constraints = [models.UniqueConstraint(fields=["merchant", "smile_id"], name="uniq_viptier_smile_id")]

    def __str__(self):
        return f"{self.name} (#{self.smile_id})"


class LoyaltyList(models.Model):
    """A list of shoppers computed from the snapshot by its ``audience`` rule (``membership.py``).

    ``stale_since`` is set when the list's VIP tier vanished from Smile: the list is frozen (kept out of
    every update) until the tier comes back. ``published_seq`` is the snapshot change counter up to which
    the list is up to date (0 = never published: the next publish recomputes it whole).
    ``rule_changed_at`` is set when an admin changes the list's audience or tier: the next publish
    recomputes it whole *without* the removal guardrail (a deliberate edit, not a Smile failure) and
    clears it. ``first_filled_at`` is the list's first publish: that fill records no per-shopper
    ``ListChange`` ("joined" x every member is noise); its items carry ``added_at == first_filled_at``.
    """

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="lists")
    name = models.CharField(max_length=200)
    audience = models.CharField(max_length=32, choices=Audience.choices)
    vip_tier_id = models.BigIntegerField(null=True, blank=True, help_text="Smile VIP tier id (tier lists).")
    stale_since = models.DateTimeField(null=True, blank=True)
    stale_reason = models.CharField(max_length=500, blank=True)
    item_count = models.PositiveIntegerField(default=0)
    published_seq = models.BigIntegerField(default=0, editable=False)
    rule_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    first_filled_at = models.DateTimeField(null=True, blank=True, editable=False)
    guardrail_since = models.DateTimeField(null=True, blank=True, editable=False)
    last_published_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MerchantOwnedManager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # A merchant's lists in their order, without a sort: the lookup's statement, the lists pages.
            models.Index(fields=["merchant", "name", "id"], name="list_merchant_name"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(audience="vip_tier", vip_tier_id__isnull=False)
                | (~models.Q(audience="vip_tier") & models.Q(vip_tier_id__isnull=True)),
                name="list_tier_iff_tier_audience",
            )
        ]

    def __str__(self):
        return self.name

    @property
    def is_stale(self) -> bool:
        return self.stale_since is not None


class SmileCustomer(models.Model):
    """The customer snapshot: the newest data Smile gave us for one customer (by ``smile_updated_at``).

    ``email`` is normalised (``email_normalize``; "" = no email). ``last_seen_at`` is when Smile last
    showed us the customer (our clock); ``gone_at`` marks a customer Smile no longer has (a completed
    full walk did not see them, or a re-fetch answered 404) — a tombstone, so lists can drop them
    incrementally. ``change_seq`` is the merchant's change counter at the last data change: lists
    re-examine only rows changed since their ``published_seq``.

    ``email_indexed``: the row is in the email index (``snapshot_email_id``, a partial index). A sync's
    walk writes new rows and changed emails with ``False`` and the publish sets them ``True``
    (``snapshot.index_emails``), all at once: inserting into an index ordered by email, in the walk's
    id order, one small transaction per page, rewrote most of the index on every commit (about 70 %
    of a first sync's snapshot writes). So reads by email (explain, the shopper page) see the snapshot
    as of the last publish, like the lists themselves, and must filter ``email_indexed=True``.
    """

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, db_index=False)
    smile_id = models.BigIntegerField()
    email = models.CharField(max_length=254, blank=True)
    state = models.CharField(max_length=16, choices=CustomerState.choices)
    points_balance = models.BigIntegerField(default=0)
    vip_tier_id = models.BigIntegerField(null=True, blank=True)
    vip_tier_name = models.CharField(max_length=255, null=True, blank=True)
    vip_tier_expires_at = models.DateTimeField(null=True, blank=True)
    smile_created_at = models.DateTimeField()
    smile_updated_at = models.DateTimeField()
    loyalty_member_since = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField()
    gone_at = models.DateTimeField(null=True, blank=True)
    change_seq = models.BigIntegerField(default=0)
    email_indexed = models.BooleanField(default=True)

    objects = MerchantOwnedManager()

    class Meta:
        verbose_name = "customer snapshot"
        constraints = [
            models.UniqueConstraint(fields=["merchant", "smile_id"], name="uniq_snapshot_smile_id")
        ]
        indexes = [
            models.Index(fields=["merchant", "change_seq"], name="snapshot_change_seq"),
            # explain / the shopper view: one email's rows, by Smile id, without a sort
            models.Index(
                fields=["merchant", "email", "smile_id"],
                name="snapshot_email_id",
                condition=models.Q(email_indexed=True),
            ),
            # the rows the next publish puts into the email index (in id order: appended, not scattered)
            models.Index(
                fields=["merchant"], name="snapshot_email_pending", condition=models.Q(email_indexed=False)
            ),
        ]

    def __str__(self):
        return f"Smile customer #{self.smile_id}"


class ListItem(models.Model):
    """One Smile customer in one list, with the metadata workflows use.

    Duplicate emails are separate items (one per Smile customer). Keyset paging uses
    ``(list, sort key, id)``, except by email: ``(list, email, smile_customer_id)``, the index lookups by
    email use as well, which also gives their documented order (by list, then Smile customer id)
    without walking the list. (Every index costs the publish: a first fill inserts each item into all.)
    """

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, db_index=False)
    list = models.ForeignKey(LoyaltyList, on_delete=models.CASCADE, related_name="items", db_index=False)
    smile_customer_id = models.BigIntegerField()
    email = models.CharField(max_length=254)
    points_balance = models.BigIntegerField(default=0)
    vip_tier_id = models.BigIntegerField(null=True, blank=True)
    vip_tier_name = models.CharField(max_length=255, null=True, blank=True)
    vip_tier_expires_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=CustomerState.choices)
    loyalty_member_since = models.DateTimeField(null=True, blank=True)
    added_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects = MerchantOwnedManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["list", "smile_customer_id"], name="uniq_item_customer")
        ]
        indexes = [
            models.Index(fields=["list", "email", "smile_customer_id"], name="item_email_customer"),
            models.Index(fields=["list", "id"], name="item_id"),
            models.Index(fields=["list", "points_balance", "id"], name="item_points"),
            models.Index(fields=["list", "loyalty_member_since", "id"], name="item_member_since"),
            # + on PostgreSQL only, the list page's email search: a trigram GIN index on email,
            #   ``item_email_trgm``, made by migration 0007_item_search (SQLite scans the list instead)
        ]

    def __str__(self):
        return f"{self.email} in list #{self.list_id}"


class SyncRun(models.Model):
    """One cycle (delta / full), or one minute's webhook refreshes of a merchant (``kind=webhook``: the
    refreshes of that minute are grouped into one run; its ``ListChange`` rows say who changed).

    A cycle asked for (*Sync now*, the schedule, a new list) is ``queued`` until a worker holding the
    merchant's lease takes it; ``started_at`` is then the moment it started (until then, when it was
    queued)."""

    class Kind(models.TextChoices):
        DELTA = "delta", "Delta"
        FULL = "full", "Full reconcile"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        HELD = "held", "Held"

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    pages_fetched = models.PositiveIntegerField(default=0)
    customers_fetched = models.PositiveIntegerField(default=0)
    lists_published = models.PositiveIntegerField(default=0)
    items_added = models.PositiveIntegerField(default=0)
    items_removed = models.PositiveIntegerField(default=0)
    items_changed = models.PositiveIntegerField(default=0)
    customers_gone = models.PositiveIntegerField(default=0)
    customers_quarantined = models.PositiveIntegerField(
        default=0, help_text="Customers Smile sent malformed: set aside, their items kept as they were."
    )
    quarantined = models.JSONField(default=list, blank=True, help_text="The first of them: id and why.")
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When the cycle was asked for.")
    task_sent_at = models.DateTimeField(null=True, blank=True, help_text="A queued run's last task.")
    resumed = models.BooleanField(default=False, help_text="A full walk resumed from a checkpoint.")
    error_message = models.TextField(blank=True)
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)

    objects = MerchantOwnedManager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["merchant", "-started_at"], name="syncrun_recent"),
            # last_good_sync: the newest finished run of one (kind, status), without walking webhooks
            models.Index(fields=["merchant", "kind", "status", "finished_at"], name="syncrun_last_good"),
            # the sweep: queued runs whose task may be lost, across merchants
            models.Index(fields=["task_sent_at"], name="syncrun_queued", condition=models.Q(status="queued")),
        ]
        constraints = [
            # at most one queued cycle per merchant: more requests join it
            models.UniqueConstraint(
                fields=["merchant"], condition=models.Q(status="queued"), name="one_queued_run"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} run #{self.pk} ({self.status})"


class ListRunResult(models.Model):
    """What one run did to one list. ``outcome=held`` is also the held-removal record an admin decides."""

    class Outcome(models.TextChoices):
        PUBLISHED = "published", "Published"
        HELD = "held", "Held (too many removals)"
        STALE = "stale", "Skipped (stale)"

    class Decision(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved"
        DISCARDED = "discarded", "Discarded"
        SUPERSEDED = "superseded", "Superseded by a later run"

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, db_index=False)
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="list_results")
    list = models.ForeignKey(LoyaltyList, on_delete=models.CASCADE, related_name="run_results")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    added = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    list_size = models.PositiveIntegerField(default=0, help_text="Items before this run.")
    published_at = models.DateTimeField(
        null=True, blank=True, help_text="When this run last changed the list (the guardrail's window)."
    )
    note = models.CharField(max_length=200, blank=True, help_text="Why the list was published this way.")
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = MerchantOwnedManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "list"], name="uniq_run_list")]
        indexes = [
            models.Index(fields=["list", "decision"], name="runlist_decision"),
            models.Index(fields=["list", "published_at"], name="runlist_published"),
        ]

    def __str__(self):
        return f"run #{self.run_id} / list #{self.list_id}: {self.outcome}"


class ListChange(models.Model):
    """One entry of the merchant's change feed: a membership change (written set-wise by
    ``sync/publish.py``; a first fill too: every member "joined") or a *list event* (``events.py``).

    **Order.** Every row of a merchant is inserted with its ``SyncState`` row locked until commit, so a
    merchant's ids grow in commit order: the id is a durable feed cursor (``outbound/feed.py``).
    List events have no shopper, no ``run`` (``detail["run_id"]``: so run pages and shopper histories
    show only membership changes) and a ``detail``; ``list_deleted`` has no ``list`` (it outlives it:
    ``detail["deleted_list_id"]``).
    """

    class Kind(models.TextChoices):
        JOINED = "joined", "Joined"
        LEFT = "left", "Left"
        TIER_UP = "tier_up", "Tier up"
        TIER_DOWN = "tier_down", "Tier down"
        METADATA = "metadata_changed", "Metadata changed"
        LIST_STALE = "list_stale", "List became stale"
        LIST_RECOVERED = "list_recovered", "List recovered"
        LIST_HELD = "list_held", "List held"
        LIST_APPROVED = "list_approved", "Held run approved"
        LIST_DISCARDED = "list_discarded", "Held run discarded"
        LIST_DELETED = "list_deleted", "List deleted"

    MEMBERSHIP_KINDS = ("joined", "left", "tier_up", "tier_down", "metadata_changed")
    LIST_EVENT_KINDS = tuple(k for k in Kind.values if k.startswith("list_"))

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, db_index=False)
    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="changes", null=True, blank=True)
    list = models.ForeignKey(
        LoyaltyList, on_delete=models.CASCADE, related_name="changes", db_index=False, null=True, blank=True
    )
    smile_customer_id = models.BigIntegerField(null=True, blank=True)
    email = models.CharField(max_length=254, blank=True, default="")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    previous_vip_tier_name = models.CharField(max_length=255, null=True, blank=True)
    vip_tier_name = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField()
    detail = models.JSONField(null=True, blank=True, help_text="List events: reason, counts, run.")

    objects = MerchantOwnedManager()

    class Meta:
        indexes = [
            models.Index(fields=["list", "id"], name="change_list"),
            models.Index(fields=["merchant", "email", "id"], name="change_email"),  # shopper history
            models.Index(fields=["merchant", "id"], name="change_feed"),  # the feed, per merchant
        ]

    def __str__(self):
        return f"{self.email or self.kind} {self.kind} list #{self.list_id}"


class SyncState(models.Model):
    """Per-merchant sync bookkeeping.

    ``watermark``: start time of the last good delta/full cycle (the next delta asks Smile for customers
    updated since ``watermark - overlap``). ``change_seq``: the snapshot change counter, taken once per
    write transaction (row-locked, so it also serialises publishes with webhook refreshes).
    ``full_walk``: checkpoint of an unfinished full walk ``{"started_at", "run_id", "cursors", "done"}``.
    ``tiers_fetched_at``: when the tier list last applied was fetched (an older one is never applied
    over it). ``full_due``: the next cycle walks everyone (a tier vanished: whether Smile bumps its
    customers' ``updated_at`` is not known, so a delta may not see them move).
    ``refresh_queued_at``: a webhook refresh task is queued or draining (at most one).
    ``next_full_at``: the merchant's next daily full reconcile, at its slot (``sync/slots.py``).
    """

    merchant = models.OneToOneField("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    watermark = models.DateTimeField(null=True, blank=True)
    last_full_at = models.DateTimeField(null=True, blank=True)
    change_seq = models.BigIntegerField(default=0)
    full_walk = models.JSONField(null=True, blank=True)
    tiers_fetched_at = models.DateTimeField(null=True, blank=True)
    full_due = models.BooleanField(default=False)
    refresh_queued_at = models.DateTimeField(null=True, blank=True)
    next_full_at = models.DateTimeField(null=True, blank=True)

    objects = MerchantOwnedManager()

    class Meta:
        indexes = [models.Index(fields=["next_full_at"], name="syncstate_next_full")]  # the slots' tick

    def __str__(self):
        return f"sync state of merchant #{self.merchant_id}"


class RefreshRequest(models.Model):
    """A customer Smile told us changed (a ``customer/updated`` webhook), waiting for its refresh.

    One row per customer: repeats and bursts for the same customer add to ``deliveries`` and refresh
    once. ``smile_updated_at`` is the newest ``updated_at`` the webhooks carried (when they did).
    A refresh *claims* rows (``claimed_by`` / ``claimed_at``) and deletes them once published; rows of a
    refresh whose worker died are claimed again after ``REFRESH_CLAIM_TTL``.
    """

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, db_index=False)
    smile_customer_id = models.BigIntegerField()
    smile_updated_at = models.DateTimeField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField()
    claimed_by = models.CharField(max_length=32, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    objects = MerchantOwnedManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "smile_customer_id"], name="uniq_refresh_customer")
        ]

    def __str__(self):
        return f"refresh of customer #{self.smile_customer_id} (merchant #{self.merchant_id})"


class SyncLease(models.Model):
    """At most one cycle per merchant: claimed with a conditional UPDATE, expires if the holder dies."""

    merchant = models.OneToOneField("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    holder = models.CharField(max_length=64, null=True, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = MerchantOwnedManager()

    def __str__(self):
        return f"sync lease of merchant #{self.merchant_id} ({self.holder or 'free'})"
