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
the list's size before them; a held list gets nothing and a ``ListRunResult(outcome=held)`` record, and
until an admin decides, every later publish that would remove anyone from it is held too.

SQL strings here (and in ``snapshot.py``) interpolate only quoted identifiers and ``Q`` fragments
compiled by Django; every value is a bound parameter (hence the ``S608`` / ``B608`` exemptions).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    Exists,
    F,
    FloatField,
    Lookup,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from ..events import changes_announce
from ..membership import membership_q
from ..models import ListChange, ListItem, ListRunResult, LoyaltyList, SmileCustomer, SyncRun, VipTier
from .sql import qn

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

    def of(self, customers: QuerySet) -> QuerySet:
        if self.smile_ids is not None:
            return customers.filter(smile_id__in=self.smile_ids)
        if self.after_seq is not None:
            return customers.filter(change_seq__gt=self.after_seq)  # index snapshot_change_seq
        return customers


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


class IsDistinctFrom(Lookup):
    """Null-safe "differs": ``IS DISTINCT FROM`` (PostgreSQL), ``IS NOT`` (SQLite)."""

    lookup_name = "distinct_from"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        op = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
        return f"{lhs} {op} {rhs}", [*lhs_params, *rhs_params]


def _insert_select(model, columns: tuple[str, ...], rows: QuerySet) -> int:
    """``INSERT INTO model (columns) SELECT ...``: ``rows`` (a ``values_list`` of as many expressions,
    in order) copied in one statement — the one statement the ORM has no method for."""
    select, params = rows.query.sql_with_params()
    names = ", ".join(qn(model._meta.get_field(c).column) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {qn(model._meta.db_table)} ({names}) {select}", params)  # noqa: S608  # nosec B608
        return cursor.rowcount


CHANGE_COLUMNS = (
    "merchant",
    "run",
    "list",
    "smile_customer_id",
    "email",
    "kind",
    "previous_vip_tier_name",
    "vip_tier_name",
    "created_at",
)
ITEM_COLUMNS = ("merchant", "list", "smile_customer_id", *ITEM_DATA, "added_at", "updated_at")


def _at(moment: datetime) -> Value:
    return Value(moment, output_field=DateTimeField())


def _text(value: str | None) -> Value:
    return Value(value, output_field=CharField())


class _ListSets:
    """One list's three sets over one candidate set, as querysets: the membership rule
    (``membership_q``) and the candidates exactly as the ORM has them."""

    def __init__(self, lst: LoyaltyList, candidates: Candidates, *, empty: bool = False):
        self.lst = lst
        customers = SmileCustomer.objects.filter(merchant_id=lst.merchant_id)
        good = customers.filter(membership_q(lst.audience, lst.vip_tier_id), gone_at__isnull=True)
        items = ListItem.objects.filter(list_id=lst.pk).order_by()
        scope = items
        if candidates.smile_ids is not None:
            scope = items.filter(smile_customer_id__in=candidates.smile_ids)
        elif candidates.after_seq is not None:
            scope = items.filter(smile_customer_id__in=candidates.of(customers).values("smile_id"))
        # removed: items of candidates with no member snapshot row (a whole recompute: of anyone)
        self.removed = scope.exclude(Exists(good.filter(smile_id=OuterRef("smile_customer_id"))))
        # added: member candidates with no item (into an empty list: all, with no anti-join to plan)
        self.added = candidates.of(good).order_by()
        if not empty:
            self.added = self.added.exclude(Exists(items.filter(smile_customer_id=OuterRef("smile_id"))))
        # changed: items of candidates whose metadata differs from their member candidate row (``row``)
        self.row = candidates.of(good).filter(smile_id=OuterRef("smile_customer_id"))
        differs = Q()
        for name in ITEM_DATA:
            differs |= IsDistinctFrom(F(name), OuterRef(name))
        self.changed = scope.filter(Exists(self.row.filter(differs)))

    def count_removed(self) -> int:
        return self.removed.count()

    def _new(self, name: str) -> Subquery:
        return Subquery(self.row.values(name)[:1])

    def apply(self, run: SyncRun, now: datetime) -> tuple[int, int, int]:
        """Record the three sets in ``ListChange``, then apply them: one statement each."""
        lst, at = self.lst, _at(now)
        common = {"m": Value(lst.merchant_id), "r": Value(run.pk), "at": at}
        # removed
        left = self.removed.annotate(**common, k=_text(ListChange.Kind.LEFT), none=_text(None))
        _insert_select(
            ListChange,
            CHANGE_COLUMNS,
            left.values_list(
                "m", "r", "list_id", "smile_customer_id", "email", "k", "vip_tier_name", "none", "at"
            ),
        )
        removed, _ = self.removed.delete()
        # changed (before added, so fresh inserts are not compared again)
        tiers = VipTier.objects.filter(merchant_id=lst.merchant_id).order_by()
        lowest = Value(LOWEST_MILESTONE, output_field=FloatField())
        changed = self.changed.annotate(
            new_tier=self._new("vip_tier_id"),
            new_email=self._new("email"),
            new_name=self._new("vip_tier_name"),
        ).annotate(
            ms_old=Coalesce(
                Subquery(tiers.filter(smile_id=OuterRef("vip_tier_id")).values("milestone")[:1]), lowest
            ),
            ms_new=Coalesce(
                Subquery(tiers.filter(smile_id=OuterRef("new_tier")).values("milestone")[:1]), lowest
            ),
        )
        moved = IsDistinctFrom(F("vip_tier_id"), F("new_tier"))
        kind = Case(
            When(moved & Q(ms_new__gt=F("ms_old")), then=_text(ListChange.Kind.TIER_UP)),
            When(moved & Q(ms_new__lt=F("ms_old")), then=_text(ListChange.Kind.TIER_DOWN)),
            default=_text(ListChange.Kind.METADATA),
        )
        _insert_select(
            ListChange,
            CHANGE_COLUMNS,
            changed.annotate(**common, k=kind).values_list(
                "m", "r", "list_id", "smile_customer_id", "new_email", "k", "vip_tier_name", "new_name", "at"
            ),
        )
        changed = self.changed.update(**{name: self._new(name) for name in ITEM_DATA}, updated_at=now)
        # added
        joined = self.added.annotate(
            **common, list=Value(lst.pk), k=_text(ListChange.Kind.JOINED), none=_text(None)
        )
        _insert_select(
            ListChange,
            CHANGE_COLUMNS,
            joined.values_list("m", "r", "list", "smile_id", "email", "k", "none", "vip_tier_name", "at"),
        )
        new_items = self.added.annotate(m=Value(lst.merchant_id), list=Value(lst.pk), at=at)
        added = _insert_select(
            ListItem, ITEM_COLUMNS, new_items.values_list("m", "list", "smile_id", *ITEM_DATA, "at", "at")
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


def _hold_pending(lst: LoyaltyList) -> bool:
    return ListRunResult.objects.filter(
        list=lst, outcome=ListRunResult.Outcome.HELD, decision=ListRunResult.Decision.PENDING
    ).exists()  # index runlist_decision


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
    stmts = _ListSets(lst, candidates, empty=candidates.everything and size == 0)
    if guardrail:
        would_remove = stmts.count_removed()
        recent = _recent_removals(lst, now) if would_remove else 0
        # While a hold waits for an admin, later removals join it (a burst's small tail would otherwise
        # slip past, under the threshold, and the hold would no longer say what an approval removes).
        if would_remove and (_hold_pending(lst) or _guardrail_holds(recent + would_remove, size + recent)):
            # What an approval would remove: the whole list against the snapshot.
            pending = would_remove if candidates.everything else _ListSets(lst, ALL).count_removed()
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
