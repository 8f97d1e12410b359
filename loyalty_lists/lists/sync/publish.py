"""Publishing: snapshot -> ``ListItem`` rows, set-wise, inside the caller's transaction.

**The one door into a list.** Every path that changes list items — a cycle, a webhook refresh, an
approval of a held run — goes through ``publish_lists`` / ``publish_list``, and only here are the list's
promises kept: stale lists are frozen, the removal guardrail holds (over a window, whatever the path),
and every change is recorded (``ListChange``; the caller records the ``ListRunResult``).

For one list and a *candidate* set of snapshot rows (every row for a whole recompute, rows changed
since the list's ``published_seq`` for an incremental one, some customers for a webhook refresh), three
statements each compute a set in SQL — no Python loop over items:

* removed: items of candidates that are no longer members (or gone from Smile); a whole recompute
  also drops items whose customer is not in the snapshot at all;
* added: member candidates with no item yet;
* changed: items whose metadata differs from their member candidate.

Each set is first copied into ``ListChange`` (``INSERT ... SELECT``: joined / left / tier up / tier
down / metadata changed; a new list's first fill too, every member "joined", so the change feed alone
rebuilds every list from its start) and then applied (``DELETE`` / ``INSERT ... SELECT`` /
``UPDATE ... FROM``). The feed's readers are told after commit (``events.changes_announce``).
The membership condition is ``membership_q`` compiled to SQL, so the rules exist once.

``publish_lists`` runs every non-stale list of the merchant in one publish transaction: readers see the
old lists or the new ones, never a mix. The removal guardrail is checked per list before anything is
written for it: the removals this publish would make, plus those published into the list within
``SYNC_REMOVAL_GUARDRAIL_WINDOW_MINUTES`` (a burst of webhook refreshes counts like one run), against
the list's size before them; a held list gets nothing and a ``ListRunResult(outcome=held)`` record.

SQL strings here (and in ``snapshot.py``) interpolate only quoted identifiers and ``Q`` fragments
compiled by Django; every value is a bound parameter (hence the ``S608`` / ``B608`` exemptions).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Case, Exists, OuterRef, Q, Sum, Value, When

from ..events import changes_announce
from ..membership import membership_q
from ..models import ListChange, ListItem, ListRunResult, LoyaltyList, SmileCustomer, SyncRun, VipTier
from .sql import col, distinct_op, dt, execute, fetch_value, qn, table, where_sql

logger = logging.getLogger(__name__)

ITEM_DATA = (
    "email",
    "points_balance",
    "vip_tier_id",
    "vip_tier_name",
    "vip_tier_expires_at",
    "state",
    "loyalty_member_since",
)
NULLABLE = {"vip_tier_id", "vip_tier_name", "vip_tier_expires_at", "loyalty_member_since"}
LOWEST_MILESTONE = -1e18  # "no tier" ranks below every tier
RULE_CHANGED_NOTE = "Rule changed: recomputed whole, removal guardrail not applied."
FIRST_FILL_NOTE = "First fill: every member recorded as joined."


@dataclass(frozen=True)
class Candidates:
    """Which snapshot rows to re-examine: all (``None``), changed since ``after_seq``, or some customers."""

    after_seq: int | None = None
    smile_ids: tuple[int, ...] | None = None

    @property
    def everything(self) -> bool:
        return self.after_seq is None and self.smile_ids is None

    def _ids(self) -> str:
        return ", ".join(["%s"] * len(self.smile_ids))

    def sql(self) -> tuple[str, list]:
        """Extra condition on the snapshot table."""
        if self.smile_ids is not None:
            return f" AND {col(SmileCustomer, 'smile_id')} IN ({self._ids()})", list(self.smile_ids)
        if self.after_seq is not None:
            return f" AND {col(SmileCustomer, 'change_seq')} > %s", [self.after_seq]
        return "", []


ALL = Candidates()


@dataclass
class ListOutcome:
    list_id: int
    outcome: str
    added: int = 0
    removed: int = 0
    changed: int = 0
    list_size: int = 0
    note: str = ""


def _c(field: str) -> str:
    return col(SmileCustomer, field)


def _i(field: str) -> str:
    return col(ListItem, field)


class _ListSql:
    """The SQL of one list's publish over one candidate set."""

    def __init__(self, lst: LoyaltyList, candidates: Candidates, *, empty: bool = False):
        self.lst = lst
        self.I, self.C, self.CH = table(ListItem), table(SmileCustomer), table(ListChange)
        member_sql, member_params = where_sql(SmileCustomer, membership_q(lst.audience, lst.vip_tier_id))
        cand_sql, cand_params = candidates.sql()
        c, i = _c, _i
        # A snapshot row that belongs in the list.
        self.good = f"{c('merchant_id')} = %s AND {c('gone_at')} IS NULL AND ({member_sql})"
        self.good_params = [lst.merchant_id, *member_params]
        # Items to remove.
        scope, scope_params = "", []
        if candidates.smile_ids is not None:
            scope = f" AND {i('smile_customer_id')} IN ({candidates._ids()})"
            scope_params = list(candidates.smile_ids)
        elif candidates.after_seq is not None:
            scope = (
                f" AND {i('smile_customer_id')} IN (SELECT {c('smile_id')} FROM {self.C}"  # noqa: S608  # nosec B608
                f" WHERE {c('merchant_id')} = %s{cand_sql})"
            )
            scope_params = [lst.merchant_id, *cand_params]
        self.removed_where = (
            f"{i('list_id')} = %s{scope} AND NOT EXISTS (SELECT 1 FROM {self.C} WHERE {self.good}"  # noqa: S608  # nosec B608
            f" AND {c('smile_id')} = {i('smile_customer_id')})"
        )
        self.removed_params = [lst.pk, *scope_params, *self.good_params]
        # Snapshot rows to add (into an empty list: all of them, with no anti-join to plan badly).
        self.added_where = f"{self.good}{cand_sql}"
        self.added_params = [*self.good_params, *cand_params]
        if not empty:
            self.added_where += (
                f" AND NOT EXISTS (SELECT 1 FROM {self.I} WHERE {i('list_id')} = %s"  # noqa: S608  # nosec B608
                f" AND {i('smile_customer_id')} = {c('smile_id')})"
            )
            self.added_params.append(lst.pk)
        # Items whose metadata differs from their snapshot row.
        op = distinct_op()
        differs = " OR ".join(f"{i(f)} {op if f in NULLABLE else '<>'} {c(f)}" for f in ITEM_DATA)
        self.changed_join = f"{c('merchant_id')} = %s AND {c('smile_id')} = {i('smile_customer_id')}"
        self.changed_where = f"{i('list_id')} = %s AND {self.good}{cand_sql} AND ({differs})"
        self.changed_params = [lst.pk, *self.good_params, *cand_params]

    def change_columns(self) -> str:
        names = (
            "merchant_id",
            "run_id",
            "list_id",
            "smile_customer_id",
            "email",
            "kind",
            "previous_vip_tier_name",
            "vip_tier_name",
            "created_at",
        )
        return ", ".join(qn(n) for n in names)

    def count_removed(self) -> int:
        return fetch_value(f"SELECT COUNT(*) FROM {self.I} WHERE {self.removed_where}", self.removed_params)  # noqa: S608  # nosec B608

    def apply(self, run: SyncRun, now: datetime) -> tuple[int, int, int]:
        """Record the three sets in ``ListChange``, then apply them."""
        i, c, lst = _i, _c, self.lst
        now_db = dt(now)
        head = f"INSERT INTO {self.CH} ({self.change_columns()})"
        # removed
        execute(
            f"{head} SELECT %s, %s, {i('list_id')}, {i('smile_customer_id')}, {i('email')}, %s,"  # noqa: S608  # nosec B608
            f" {i('vip_tier_name')}, NULL, %s FROM {self.I} WHERE {self.removed_where}",
            [lst.merchant_id, run.pk, ListChange.Kind.LEFT, now_db, *self.removed_params],
        )
        removed = execute(f"DELETE FROM {self.I} WHERE {self.removed_where}", self.removed_params)  # noqa: S608  # nosec B608
        # changed (before added, so fresh inserts are not compared again)
        T, tier_m, tier_id = table(VipTier), qn("merchant_id"), qn("smile_id")
        ms_old, ms_new = f"COALESCE(ot.{qn('milestone')}, %s)", f"COALESCE(nt.{qn('milestone')}, %s)"
        tier_moved = f"{i('vip_tier_id')} {distinct_op()} {c('vip_tier_id')}"
        kind = (
            f"CASE WHEN {tier_moved} AND {ms_new} > {ms_old} THEN %s"
            f" WHEN {tier_moved} AND {ms_new} < {ms_old} THEN %s ELSE %s END"
        )
        kind_params = [
            LOWEST_MILESTONE,
            LOWEST_MILESTONE,
            ListChange.Kind.TIER_UP,
            LOWEST_MILESTONE,
            LOWEST_MILESTONE,
            ListChange.Kind.TIER_DOWN,
            ListChange.Kind.METADATA,
        ]
        execute(
            f"{head} SELECT %s, %s, {i('list_id')}, {i('smile_customer_id')}, {c('email')}, {kind},"  # noqa: S608  # nosec B608
            f" {i('vip_tier_name')}, {c('vip_tier_name')}, %s"
            f" FROM {self.I} JOIN {self.C} ON {self.changed_join}"
            f" LEFT JOIN {T} ot ON ot.{tier_m} = %s AND ot.{tier_id} = {i('vip_tier_id')}"
            f" LEFT JOIN {T} nt ON nt.{tier_m} = %s AND nt.{tier_id} = {c('vip_tier_id')}"
            f" WHERE {self.changed_where}",
            [
                lst.merchant_id,
                run.pk,
                *kind_params,
                now_db,
                lst.merchant_id,
                lst.merchant_id,
                lst.merchant_id,
                *self.changed_params,
            ],
        )
        sets = ", ".join(f"{qn(f)} = {c(f)}" for f in ITEM_DATA)
        changed = execute(
            f"UPDATE {self.I} SET {sets}, {qn('updated_at')} = %s FROM {self.C}"  # noqa: S608  # nosec B608
            f" WHERE {self.changed_join} AND {self.changed_where}",
            [now_db, lst.merchant_id, *self.changed_params],
        )
        # added
        execute(
            f"{head} SELECT %s, %s, %s, {c('smile_id')}, {c('email')}, %s, NULL, {c('vip_tier_name')}, %s"  # noqa: S608  # nosec B608
            f" FROM {self.C} WHERE {self.added_where}",
            [lst.merchant_id, run.pk, lst.pk, ListChange.Kind.JOINED, now_db, *self.added_params],
        )
        item_cols = ("merchant_id", "list_id", "smile_customer_id", *ITEM_DATA, "added_at", "updated_at")
        added = execute(
            f"INSERT INTO {self.I} ({', '.join(qn(n) for n in item_cols)})"  # noqa: S608  # nosec B608
            f" SELECT %s, %s, {c('smile_id')}, {', '.join(c(f) for f in ITEM_DATA)}, %s, %s"
            f" FROM {self.C} WHERE {self.added_where}",
            [lst.merchant_id, lst.pk, now_db, now_db, *self.added_params],
        )
        return added, removed, changed


def _recent_removals(lst: LoyaltyList, now: datetime) -> int:
    """Items published out of the list within the guardrail's window (deliberate ones excepted)."""
    since = now - timedelta(minutes=settings.SYNC_REMOVAL_GUARDRAIL_WINDOW_MINUTES)
    if lst.guardrail_since is not None and lst.guardrail_since > since:
        since = lst.guardrail_since
    recent = ListRunResult.objects.filter(
        list=lst, outcome=ListRunResult.Outcome.PUBLISHED, published_at__gte=since
    ).aggregate(removed=Sum("removed"))
    return recent["removed"] or 0


def _guardrail_holds(removed: int, size: int) -> bool:
    """``removed`` of a list of ``size`` items (both counted from the start of the window)."""
    if size < settings.SYNC_REMOVAL_GUARDRAIL_MIN_ITEMS:
        return False
    return removed * 100 > settings.SYNC_REMOVAL_GUARDRAIL_PERCENT * size


def _item_count(lst: LoyaltyList) -> int:
    return ListItem.objects.filter(list=lst).count()


def publish_list(
    lst: LoyaltyList,
    candidates: Candidates,
    *,
    run: SyncRun,
    now: datetime,
    guardrail: bool = True,
) -> ListOutcome:
    """Publish one list (no bookkeeping on the list row); held lists are left untouched."""
    # A whole recompute also re-counts (and so corrects) the list's size; otherwise trust the counter.
    size = _item_count(lst) if candidates.everything else lst.item_count
    stmts = _ListSql(lst, candidates, empty=candidates.everything and size == 0)
    if guardrail:
        would_remove = stmts.count_removed()
        recent = _recent_removals(lst, now) if would_remove else 0
        if would_remove and _guardrail_holds(recent + would_remove, size + recent):
            # What an approval would remove: the whole list against the snapshot.
            pending = would_remove if candidates.everything else _ListSql(lst, ALL).count_removed()
            logger.warning(
                "List %s held: run %s would remove %s of %s items (%s more within the window)",
                lst.pk,
                run.pk,
                would_remove,
                size,
                recent,
            )
            return ListOutcome(lst.pk, ListRunResult.Outcome.HELD, removed=pending, list_size=size)
    added, removed, changed = stmts.apply(run, now)
    if added or removed or changed:
        changes_announce(lst.merchant_id)
    return ListOutcome(lst.pk, ListRunResult.Outcome.PUBLISHED, added, removed, changed, size)


def lists_with_pending(merchant_id: int) -> list[LoyaltyList]:
    """The merchant's lists, each with ``pending``: whether a cycle's publish would do anything to it —
    a live list never published (new, rule changed, back from stale) or with snapshot rows changed
    since it was (index ``snapshot_change_seq``). One query."""
    changed = SmileCustomer.objects.filter(merchant_id=merchant_id, change_seq__gt=OuterRef("published_seq"))
    needs = Q(published_seq=0) | Q(rule_changed_at__isnull=False) | Q(last_published_at__isnull=True)
    pending = Case(
        When(Q(stale_since__isnull=True) & (needs | Exists(changed)), then=Value(True)),
        default=Value(False),
    )
    return list(LoyaltyList.objects.filter(merchant_id=merchant_id).annotate(pending=pending).order_by("pk"))


def publish_lists(
    *,
    merchant_id: int,
    run: SyncRun,
    now: datetime,
    published_seq: int,
    customers: tuple[int, ...] | None = None,
    staled: tuple[int, ...] = (),
    progress=None,
) -> list[ListOutcome]:
    """Publish every list of the merchant (call inside the publish transaction, state locked).

    **A cycle** (``customers=None``): lists never published (``published_seq == 0``: new, rule
    changed, back from stale) are recomputed whole; a list whose rule an admin changed skips the
    removal guardrail (a deliberate edit, noted "rule changed" on its result), and a new list's first
    fill records every member as joined (noted "first fill" on its result). The others
    re-examine only snapshot rows changed since their ``published_seq`` — for a delta *and* a full
    cycle, since the snapshot only takes a new change number when what lists show changed (or the
    customer is gone). ``published_seq`` is the counter read under the lock: published lists are up to
    date through it.

    **A webhook refresh** (``customers``: the Smile ids it refreshed): only those customers are
    re-examined, so ``published_seq`` does not move (the next cycle re-examines everything since);
    a list that needs a whole recompute (its tier just came back, its rule changed) gets it here, as
    in a cycle; a list never filled waits for its first cycle. Stale lists are skipped silently
    unless ``staled`` says this refresh made them stale (recorded once).
    """
    refresh = customers is not None
    outcomes = []
    for lst in LoyaltyList.objects.filter(merchant_id=merchant_id).order_by("pk"):
        if lst.is_stale:
            if not refresh or lst.pk in staled:
                outcomes.append(ListOutcome(lst.pk, ListRunResult.Outcome.STALE, list_size=lst.item_count))
            continue
        rule_changed = lst.rule_changed_at is not None
        first_fill = lst.last_published_at is None
        whole = lst.published_seq == 0 or rule_changed
        if refresh and first_fill:
            continue  # never filled yet: its first cycle fills it
        if refresh and not whole:
            outcome = publish_list(lst, Candidates(smile_ids=customers), run=run, now=now)
            if outcome.outcome == ListRunResult.Outcome.PUBLISHED and (outcome.added or outcome.removed):
                lst.item_count = outcome.list_size + outcome.added - outcome.removed
                lst.save(update_fields=["item_count", "updated_at"])
            outcomes.append(outcome)
            continue
        # A whole recompute (new, rule changed, back from stale — by a cycle or by a refresh that saw the
        # tier return), or the rows changed since the list's last publish.
        candidates = ALL if whole else Candidates(after_seq=lst.published_seq)
        outcome = publish_list(lst, candidates, run=run, now=now, guardrail=not rule_changed)
        if outcome.outcome == ListRunResult.Outcome.PUBLISHED:
            if first_fill:
                outcome.note = FIRST_FILL_NOTE
                lst.first_filled_at = now
            elif rule_changed:
                outcome.note = RULE_CHANGED_NOTE
                lst.guardrail_since = now
            lst.published_seq = published_seq
            lst.last_published_at = now
            lst.rule_changed_at = None
            lst.item_count = outcome.list_size + outcome.added - outcome.removed
            lst.save(
                update_fields=[
                    "published_seq",
                    "last_published_at",
                    "rule_changed_at",
                    "first_filled_at",
                    "guardrail_since",
                    "item_count",
                    "updated_at",
                ]
            )
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return outcomes
