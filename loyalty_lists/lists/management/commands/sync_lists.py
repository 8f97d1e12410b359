"""Run one sync cycle for one merchant in the foreground, with a progress line and a summary.

    python manage.py sync_lists --merchant demo [--full]

The run's progress (pages, customers, lists published) is also stored on its ``SyncRun`` row.
Exit status 1 when the run failed, 2 when another cycle of the merchant is running.
"""

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from loyalty_lists.lists.models import ListRunResult, LoyaltyList, SyncRun
from loyalty_lists.lists.services import sync_cycle_run
from loyalty_lists.merchants.models import Merchant

BAR_WIDTH = 24


class Progress:
    """A one-line text progress display (rewritten in place on a terminal, one line per phase otherwise)."""

    def __init__(self, out, lists_total: int, tty: bool):
        self.out, self.lists_total, self.tty = out, lists_total, tty
        self.lists_done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0

    def bar(self, done: int, total: int) -> str:
        filled = BAR_WIDTH if not total else min(BAR_WIDTH, BAR_WIDTH * done // total)
        return "#" * filled + "-" * (BAR_WIDTH - filled)

    def __call__(self, run: SyncRun, phase: str, detail=None) -> None:
        if phase == "list":
            self.lists_done += 1
        elapsed = time.monotonic() - self.started
        rate = run.customers_fetched / elapsed if elapsed > 0 else 0.0
        line = (
            f"[{self.bar(self.lists_done, self.lists_total)}] {run.get_kind_display()} | "
            f"pages {run.pages_fetched:,} | customers {run.customers_fetched:,} ({rate:,.0f}/s) | "
            f"lists published {self.lists_done}/{self.lists_total} | {phase}"
        )
        now = time.monotonic()
        if self.tty:
            if phase == "fetch" and now - self._last_draw < 0.1:
                return
            self.out.write("\r" + line.ljust(110), ending="")
            self.out.flush()
        elif phase != "fetch" or now - self._last_draw >= 5:
            self.out.write(line)
        self._last_draw = now


class Command(BaseCommand):
    help = "Run one sync cycle for a merchant now (foreground), with progress and a summary."

    def add_arguments(self, parser):
        parser.add_argument("--merchant", required=True, help="merchant slug")
        parser.add_argument("--full", action="store_true", help="full reconcile instead of a delta")

    def handle(self, *args, merchant, full, **options):
        try:
            m = Merchant.objects.get(slug=merchant)
        except Merchant.DoesNotExist as exc:
            raise CommandError(f"No merchant with slug {merchant!r}.") from exc
        lists_total = LoyaltyList.objects.for_merchant(m).count()
        progress = Progress(self.stdout, lists_total, tty=self.stdout.isatty())
        kind = SyncRun.Kind.FULL if full else SyncRun.Kind.DELTA
        run = sync_cycle_run(merchant_id=m.pk, kind=kind, progress=progress)
        if progress.tty:
            self.stdout.write("")
        if run is None:
            self.stderr.write(f"Another sync cycle of {m.slug} is running; nothing done.")
            sys.exit(2)
        self.summary(run)
        if run.status == SyncRun.Status.FAILED:
            sys.exit(1)

    def summary(self, run: SyncRun) -> None:
        took = (run.finished_at - run.started_at).total_seconds() if run.finished_at else 0.0
        w = self.stdout.write
        w(
            f"Run #{run.pk}: {run.get_kind_display()}{' (resumed)' if run.resumed else ''} — {run.status} "
            f"in {took:.1f} s"
        )
        w(
            f"  fetched {run.customers_fetched:,} customers in {run.pages_fetched:,} pages; "
            f"{run.customers_gone:,} gone from Smile"
        )
        w(
            f"  items: +{run.items_added:,} added, -{run.items_removed:,} removed, "
            f"~{run.items_changed:,} changed in {run.lists_published} lists"
        )
        for result in ListRunResult.objects.filter(run=run).select_related("list").order_by("list__name"):
            line = f"  - {result.list.name}: {result.get_outcome_display()}"
            if result.outcome == ListRunResult.Outcome.PUBLISHED:
                line += f" (+{result.added:,} -{result.removed:,} ~{result.changed:,})"
            elif result.outcome == ListRunResult.Outcome.HELD:
                line += (
                    f": would remove {result.removed:,} of {result.list_size:,} items — approve or discard "
                    f"it in the admin"
                )
            elif result.list.stale_reason:
                line += f": {result.list.stale_reason}"
            w(line)
        if run.error_message:
            w(f"  error: {run.error_message}")
