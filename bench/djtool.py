"""Django-side helpers, run as subprocesses against a bench database (env: SQLITE_PATH, SMILE_API_BASE...).

python -m bench.djtool setup --api-key api_...      # migrate, merchant, connection, three lists, API key
python -m bench.djtool sync [--full]                # one cycle; prints JSON with run time and RSS
python -m bench.djtool emails --count N             # member emails of the all-members list (JSON)
python -m bench.djtool endpoint --url URL           # a webhook endpoint of the bench merchant (figure 9)
python -m bench.djtool feed                         # the bench merchant's change feed: size, newest id
python -m bench.djtool unqueue                      # drop queued cycles and tasks (the connect queued one)
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

SLUG = "bench"


def _status(key: str, pid: str = "self") -> int:
    """kB value of a /proc/<pid>/status line (VmRSS, VmHWM); 0 once the process has gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children() -> set[str]:
    """Pids of this process's children (the sync starts none today; counted if it ever does)."""
    pids: set[str] = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as fh:
                pids.update(fh.read().split())
        except OSError:
            pass
    return pids


def migrate() -> dict:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    return {"migrated": True}


def setup(api_key: str) -> dict:
    from integrations.smile.services import connection_api_key_connect
    from loyalty_lists.api.keys import api_key_create
    from loyalty_lists.lists.models import Audience, LoyaltyList
    from loyalty_lists.merchants.models import Merchant

    merchant, _ = Merchant.objects.get_or_create(slug=SLUG, defaults={"name": "Bench store"})
    connection_api_key_connect(merchant=merchant, user=None, api_key=api_key)
    # An API-key connection does not learn its Smile account id (no token response says it), and nothing
    # records it from a webhook either: without this, webhooks for the account are ignored (figure 6).
    from integrations.smile.services import connection_account_id_record

    connection_account_id_record(merchant=merchant, account_id=1)
    import httpx
    from django.conf import settings

    tiers = httpx.get(
        f"{settings.SMILE_API_BASE}/vip_tiers", headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ).json()["vip_tiers"]
    gold = next(t for t in tiers if t["name"] == "Gold")
    lists = [
        LoyaltyList.objects.create(merchant=merchant, name="All members", audience=Audience.ALL_MEMBERS),
        LoyaltyList.objects.create(
            merchant=merchant, name="Members and candidates", audience=Audience.MEMBERS_AND_CANDIDATES
        ),
        LoyaltyList.objects.create(
            merchant=merchant, name="Gold", audience=Audience.VIP_TIER, vip_tier_id=gold["id"]
        ),
    ]
    _, key_text = api_key_create(merchant=merchant, name="bench")
    return {"merchant_id": merchant.pk, "list_ids": [x.pk for x in lists], "api_key": key_text}


def sync(full: bool) -> dict:
    import threading

    from loyalty_lists.lists.models import SyncRun
    from loyalty_lists.lists.services import sync_cycle_run
    from loyalty_lists.merchants.models import Merchant

    merchant = Merchant.objects.get(slug=SLUG)
    # everything the sync needs is imported and the connection is warm: this is "right before the sync"
    rss_before = _status("VmRSS")
    anon_before = _status("RssAnon")
    peak = {"anon": anon_before, "file": _status("RssFile")}
    helpers: dict[str, int] = {}  # children's peak RSS (all of it would be the sync's growth)
    done = threading.Event()

    def sample() -> None:  # RssAnon (Python heap, SQLite page cache) vs RssFile (mmap'd database pages)
        while not done.wait(0.05):
            peak["anon"] = max(peak["anon"], _status("RssAnon"))
            peak["file"] = max(peak["file"], _status("RssFile"))
            for pid in _children():
                helpers[pid] = max(helpers.get(pid, 0), _status("VmHWM", pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    phases: dict[str, float] = {}
    cpu_before = time.process_time()  # this process, all threads
    children_before = os.times()  # children's CPU, once they have exited
    started = time.monotonic()

    def progress(run, phase, detail=None) -> None:
        if phase not in phases:  # first time each phase is seen: when, and the anonymous RSS then
            phases[phase] = round(time.monotonic() - started, 3)
            phases[f"{phase}_anon_peak_mb"] = round(peak["anon"] / 1024, 1)
        if phase == "list":
            phases[f"list_done_{len(phases)}"] = round(time.monotonic() - started, 3)

    run = sync_cycle_run(
        merchant_id=merchant.pk, kind=SyncRun.Kind.FULL if full else SyncRun.Kind.DELTA, progress=progress
    )
    wall = time.monotonic() - started
    cpu = time.process_time() - cpu_before
    children_after = os.times()
    helper_cpu = (children_after.children_user - children_before.children_user) + (
        children_after.children_system - children_before.children_system
    )
    done.set()
    sampler.join()
    return {
        "phases_s": phases,
        "rss_anon_before_kb": anon_before,
        "rss_anon_peak_kb": peak["anon"],
        "rss_file_peak_kb": peak["file"],
        "status": run.status,
        "kind": run.kind,
        "error": run.error_message,
        "run_seconds": (run.finished_at - run.started_at).total_seconds(),
        "finished_epoch": run.finished_at.timestamp(),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "children_cpu_seconds": helper_cpu,
        "children_rss_peak_kb": max(helpers.values(), default=0),
        "customers_fetched": run.customers_fetched,
        "pages_fetched": run.pages_fetched,
        "items_added": run.items_added,
        "items_changed": run.items_changed,
        "items_removed": run.items_removed,
        "rss_before_kb": rss_before,
        "rss_peak_kb": _status("VmHWM"),
        "rss_after_kb": _status("VmRSS"),
    }


def emails(count: int) -> dict:
    from loyalty_lists.lists.models import ListItem, LoyaltyList, SmileCustomer

    lst = LoyaltyList.objects.get(merchant__slug=SLUG, name="All members")
    members = list(
        ListItem.objects.filter(list=lst, smile_customer_id__lt=9000000000)
        .exclude(email="")
        .order_by("?")
        .values_list("email", flat=True)[:count]
    )
    total = ListItem.objects.filter(list=lst).count()
    outsiders = list(
        SmileCustomer.objects.filter(merchant=lst.merchant)
        .exclude(state="member")
        .exclude(email="")
        .exclude(email__isnull=True)
        .values_list("email", flat=True)[: count // 2]
    )
    return {"list_items": total, "members": members, "outsiders": outsiders}


def pad(items: int) -> dict:
    """Fill the all-members list up to ``items`` rows with synthetic members (``padN@bench.invalid``)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from loyalty_lists.lists.models import ListItem, LoyaltyList

    lst = LoyaltyList.objects.get(merchant__slug=SLUG, name="All members")
    have = ListItem.objects.filter(list=lst).count()
    missing = max(0, items - have)
    now = timezone.now().isoformat(sep=" ")
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < %s) "
            "INSERT INTO lists_listitem (merchant_id, list_id, smile_customer_id, email, points_balance, "
            "state, loyalty_member_since, added_at, updated_at) "
            "SELECT %s, %s, 9000000000 + x, 'pad' || x || '@bench.invalid', x % 5000, 'member', %s, %s, %s "
            "FROM seq",
            [missing, lst.merchant_id, lst.pk, now, now, now],
        )
    return {
        "real_items": have,
        "padding": missing,
        "items": have + missing,
        "seconds": time.monotonic() - started,
    }


def endpoint(url: str) -> dict:
    from loyalty_lists.merchants.models import Merchant
    from loyalty_lists.outbound.endpoints import endpoint_create

    created, secret = endpoint_create(merchant=Merchant.objects.get(slug=SLUG), url=url)
    return {"endpoint_id": created.pk, "secret": secret}


def feed() -> dict:
    from django.db.models import Count, Max

    from loyalty_lists.lists.models import ListChange
    from loyalty_lists.outbound.models import Delivery

    changes = ListChange.objects.filter(merchant__slug=SLUG).aggregate(n=Count("id"), top=Max("id"))
    deliveries = Delivery.objects.filter(merchant__slug=SLUG).values_list("status").annotate(n=Count("id"))
    return {"changes": changes["n"], "newest": changes["top"], "deliveries": dict(deliveries)}


def unqueue() -> dict:
    """Connecting queued a first cycle (and its task): drop them, so a cluster started for the benchmark
    does not run that sync itself while the benchmark runs it."""
    from django_q.models import OrmQ

    from loyalty_lists.lists.models import SyncRun

    tasks = OrmQ.objects.all().delete()[0]
    runs = SyncRun.objects.filter(status=SyncRun.Status.QUEUED).delete()[0]
    return {"tasks": tasks, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "command", choices=["migrate", "setup", "sync", "emails", "pad", "endpoint", "feed", "unqueue"]
    )
    parser.add_argument("--url")
    parser.add_argument("--api-key")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--items", type=int, default=0)
    args = parser.parse_args()
    import django

    django.setup()
    if args.command == "migrate":
        out = migrate()
    elif args.command == "setup":
        out = setup(args.api_key)
    elif args.command == "sync":
        out = sync(args.full)
    elif args.command == "pad":
        out = pad(args.items)
    elif args.command == "endpoint":
        out = endpoint(args.url)
    elif args.command == "feed":
        out = feed()
    elif args.command == "unqueue":
        out = unqueue()
    else:
        out = emails(args.count)
    sys.stdout.write("BENCH-JSON " + json.dumps(out, default=str) + "\n")


if __name__ == "__main__":
    main()
