"""Figure 7 — the list page at 1M items: every view a merchant uses (first and next pages, each sort, email
search, filters, their combination) timed through Django's test client (the whole view: queries, count,
template), on SQLite and, when ``DATABASE_URL`` names a PostgreSQL (``bin/with-services``), on PostgreSQL in
a throwaway database beside it. Also the cost of counting the matches with and without the page's cap,
and the CSV export of the whole list (time and the exporting process's peak RSS growth).

Baseline (same run, same database): the unfiltered first page, an indexed range scan of 50 rows.

    python -m bench.fig7_list_page [--items 1000000]          # prints the figures (SQLite, + PostgreSQL)
    bin/with-services .venv/bin/python -m bench.fig7_list_page
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .common import PYTHON, ROOT, TMP, Figure, base_env

TARGET_MS = 500.0  # every view's median, at 1M items
REPEAT = 5
FIRST = ["maria", "james", "wei", "fatima", "olga", "juan", "aiko", "liam", "noor", "sven"]
LAST = ["smith", "lopez", "chen", "garcia", "kowalski", "nguyen", "okafor", "muller", "rossi", "silva", "kim",
        "haddad", "novak", "dubois", "tanaka", "ivanova", "santos", "berg", "walsh", "costa"]  # fmt: skip
DOMAINS = ["example.com", "example.org", "mail.test", "shop.invalid"]
TIERS = [(101, "Bronze"), (102, "Silver"), (103, "Gold"), (104, "Platinum")]
VIEWS = {
    # name: query string of the list page
    "first page (email A-Z)": {},
    "next page (email A-Z)": "NEXT",
    "points, highest first": {"sort": "-points"},
    "member since, oldest first (NULLs last)": {"sort": "member_since"},
    "search 'lopez' (5 % of items)": {"q": "lopez"},
    "search '@example.org' (25 %)": {"q": "@example.org"},
    "search 'lopez4213' (1 in 10,000)": {"q": "lopez4213"},
    "search with no match": {"q": "nobody-at-all"},
    "state = candidate (15 %)": {"state": "candidate"},
    "tier = Gold (~14 %)": {"tier": "103"},
    "'lopez' + candidate + Bronze (the issue's view)": {"q": "lopez", "state": "candidate", "tier": "101"},
    "'lopez', points highest first": {"q": "lopez", "sort": "-points"},
}


# --- the Django side (a subprocess per database) ----------------------------------------------------------
def _email(n: int) -> str:
    first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]
    return f"{first}.{last}{n % 10_000}@{DOMAINS[(n // 7) % len(DOMAINS)]}"


def _fill(lst, items: int, start_id: int) -> None:
    from datetime import UTC, datetime, timedelta

    from django.db import connection, transaction

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    sql = (
        "INSERT INTO lists_listitem (merchant_id, list_id, smile_customer_id, email, points_balance, "
        "vip_tier_id, vip_tier_name, vip_tier_expires_at, state, loyalty_member_since, added_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    batch = []
    with transaction.atomic(), connection.cursor() as cursor:
        for n in range(items):
            # state, tier and member-since vary independently of the email (and of each other)
            h = (n * 2654435761) % 2**32
            tier = TIERS[h % 7] if h % 7 < len(TIERS) else None
            since = None if (h >> 8) % 10 == 0 else t0 + timedelta(minutes=(h >> 4) % 500_000)
            batch.append(
                (lst.merchant_id, lst.pk, start_id + n, _email(n), (n * 37) % 20_000,
                 tier[0] if tier else None, tier[1] if tier else None,
                 t0 + timedelta(days=400) if tier else None,
                 "candidate" if (h >> 12) % 20 < 3 else "member", since, t0, t0)
            )  # fmt: skip
            if len(batch) == 10_000:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
    lst.item_count, lst.published_seq, lst.last_published_at = items, 1, t0
    lst.save()


def _setup(items: int):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from loyalty_lists.lists.models import LoyaltyList, VipTier
    from loyalty_lists.lists.sync.sql import analyze
    from loyalty_lists.merchants.models import Membership, Merchant

    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    merchant = Merchant.objects.create(slug="bench-page", name="Bench store")
    other = Merchant.objects.create(slug="bench-other", name="Another store")
    user = get_user_model().objects.create_user(email="bench@example.com", password="bench-page-1")
    Membership.objects.create(merchant=merchant, user=user, role=Membership.Role.OWNER)
    from django.utils import timezone

    for smile_id, name in TIERS:
        VipTier.objects.create(merchant=merchant, smile_id=smile_id, name=name, last_seen_at=timezone.now())
    lst = LoyaltyList.objects.create(merchant=merchant, name="All members", audience="all_members")
    theirs = LoyaltyList.objects.create(merchant=other, name="Theirs", audience="all_members")
    started = time.monotonic()
    _fill(lst, items, 1)
    _fill(theirs, max(1, items // 5), 10**9)  # another tenant's rows in the same table
    from loyalty_lists.lists.models import ListItem

    analyze(ListItem)  # as the sync does after a bulk publish (PostgreSQL; SQLite plans by index)
    fill_seconds = time.monotonic() - started
    return user, lst, {"vendor": connection.vendor, "fill_seconds": round(fill_seconds, 1)}


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _page_times(client, lst) -> dict:
    import re

    url = f"/lists/{lst.pk}/"
    first = client.get(url)
    assert first.status_code == 200, first.status_code
    next_link = re.search(r'<a href="([^"]+)" rel="next">', first.content.decode()).group(1)
    out = {}
    for name, params in VIEWS.items():
        target = (url + next_link.replace("&amp;", "&")) if params == "NEXT" else url

        def get(target=target, params=params):
            response = client.get(target, {} if params == "NEXT" else params)
            assert response.status_code == 200
            assert b"That page link has expired" not in response.content

        get()  # warm: the page cache, the template
        times = [_timed(get) for _ in range(REPEAT)]
        out[name] = {"p50_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}
    return out


def _count_times(lst) -> dict:
    from loyalty_lists.web.selectors import list_items_count, list_items_filtered

    out = {}
    for name, params in VIEWS.items():
        if params == "NEXT" or not params or set(params) == {"sort"}:
            continue
        filters = {
            "search": params.get("q", ""),
            "state": params.get("state", ""),
            "tier": params.get("tier", ""),
        }
        capped, full = [], []
        for _ in range(3):
            capped.append(_timed(lambda f=filters: list_items_count(list=lst, **f)))
            full.append(_timed(lambda f=filters: list_items_filtered(list=lst, **f).count()))
        out[name] = {
            "matches": list_items_filtered(list=lst, **filters).count(),
            "capped_count_ms": round(statistics.median(capped), 1),
            "full_count_ms": round(statistics.median(full), 1),
        }
    return out


def _status_kb(key: str) -> int:
    """A kB line of /proc/self/status (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _export(client, lst, query: dict) -> dict:
    rss_before = _status_kb("VmRSS")
    started = time.perf_counter()
    response = client.get(f"/lists/{lst.pk}/export.csv", query)
    rows = size = 0
    for chunk in response.streaming_content:
        rows += chunk.count(b"\n")
        size += len(chunk)
    return {
        "rows": rows - 1,
        "mb": round(size / 1e6, 1),
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_growth_mb": round((_status_kb("VmHWM") - rss_before) / 1024, 1),
    }


def worker(items: int, export_only: bool) -> dict:
    import django

    django.setup()
    from django.test import Client

    from loyalty_lists.lists.models import LoyaltyList

    client = Client(HTTP_HOST="127.0.0.1")  # an allowed host (ALLOWED_HOSTS)
    if export_only:  # a fresh process: its peak RSS is the export's
        lst = LoyaltyList.objects.get(name="All members", merchant__slug="bench-page")
        client.force_login(lst.merchant.memberships.first().user)
        return {
            "export_all": _export(client, lst, {}),
            "export_lopez_by_points": _export(client, lst, {"q": "lopez", "sort": "-points"}),
        }
    user, lst, info = _setup(items)
    client.force_login(user)
    return {**info, "pages": _page_times(client, lst), "counts": _count_times(lst)}


# --- the runner side ---------------------------------------------------------------------------------------
def _run_worker(env: dict, items: int, export_only: bool = False) -> dict:
    args = [PYTHON, "-m", "bench.fig7_list_page", "--worker", "--items", str(items)]
    proc = subprocess.run(
        args + (["--export"] if export_only else []), cwd=ROOT, env=env, capture_output=True, text=True
    )
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            return json.loads(line[len("BENCH-JSON ") :])
    raise RuntimeError(
        f"fig7 worker failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )


def _postgres_env(items: int):
    """A throwaway database next to DATABASE_URL's (``bin/with-services``), or None without PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return None, None
    import psycopg

    parts = urlsplit(url)
    name = "bench_fig7"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    bench_url = urlunsplit(parts._replace(path=f"/{name}"))

    def drop():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    return base_env(DATABASE_URL=bench_url), drop


def _figure(label: str, result: dict, items: int) -> Figure:
    pages = result["pages"]
    slowest = max(pages, key=lambda name: pages[name]["p50_ms"])
    value, baseline = pages[slowest]["p50_ms"], pages["first page (email A-Z)"]["p50_ms"]
    return Figure(
        7,
        f"List page, {items:,}-item list, {label}: slowest view p50 ({slowest})",
        value,
        "ms",
        baseline,
        "unfiltered first page p50",
        value / baseline if baseline else None,
        "x first page",
        f"every view p50 <= {TARGET_MS:.0f} ms",
        value <= TARGET_MS,
        details={**result, "summary": "; ".join(f"{k}: {v['p50_ms']} ms" for k, v in pages.items())},
    )


def measure(items: int) -> list[Figure]:
    figures = []
    TMP.mkdir(parents=True, exist_ok=True)
    sqlite_path = TMP / f"fig7-{os.getpid()}.sqlite3"
    env = base_env(SQLITE_PATH=sqlite_path)
    env.pop("DATABASE_URL", None)
    try:
        result = _run_worker(env, items)
        result.update(_run_worker(env, items, export_only=True))
        figures.append(_figure("SQLite", result, items))
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
    pg_env, drop = _postgres_env(items)
    if pg_env is not None:
        try:
            result = _run_worker(pg_env, items)
            result.update(_run_worker(pg_env, items, export_only=True))
            figures.append(_figure("PostgreSQL", result, items))
        finally:
            drop()
    return figures


def run(sizes: dict) -> list[Figure]:
    """``bench.run``: the list the lookup figure pads (1M items; 20k in smoke runs)."""
    return measure(sizes["lookup_items"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--export", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
        sys.stdout.write("BENCH-JSON " + json.dumps(worker(args.items, args.export)) + "\n")
        return
    for figure in measure(args.items):
        print(json.dumps({"name": figure.name, "value": figure.value, "details": figure.details}, indent=1))


if __name__ == "__main__":
    main()
