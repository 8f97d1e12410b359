"""Throughput benchmark: walk the whole customer cursor chain with limit=250&include=vip_status.

    .venv/bin/python -m integrations.smile.sandbox.bench --customers 1000000

Starts an unthrottled sandbox (rate limit 0, no latency) whose data file is kept under var/ so a
second run reuses it, walks every page over one keep-alive connection and prints customers/s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from urllib.parse import quote, urlsplit

from integrations.smile.sandbox.config import PROJECT_ROOT
from integrations.smile.sandbox.process import SandboxProcess


def walk(base_url: str, token: str, parse: bool) -> tuple[int, int, int, float]:
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    cursor, customers, pages, size = None, 0, 0, 0
    started = time.perf_counter()
    while True:
        path = "/v1/customers?limit=250&include=vip_status"
        if cursor:
            path += "&cursor=" + quote(cursor, safe="")
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{resp.status}: {body[:200]!r}")
        pages += 1
        size += len(body)
        if parse:
            page = json.loads(body)
            customers += len(page["customers"])
            cursor = page["metadata"]["next_cursor"]
        else:  # cheap scan: count ids and pull next_cursor out of the tail
            customers += body.count(b'"vip_status"')
            tail = body[body.rfind(b'"next_cursor":') + 14 :]
            cursor = None if tail.startswith(b"null") else tail[1 : tail.index(b'"', 1)].decode()
        if not cursor:
            break
    conn.close()
    return customers, pages, size, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-parse", action="store_true", help="do not json-parse pages on the client")
    args = parser.parse_args(argv)
    db = PROJECT_ROOT / "var" / f"smile_sandbox_bench_{args.customers}_{args.seed}.sqlite3"
    started = time.perf_counter()
    with SandboxProcess(
        customers=args.customers, seed=args.seed, rate_limit=0, db=db, startup_timeout=600
    ) as sandbox:
        reused = sandbox.health()["db_reused"]
        print(f"sandbox ready in {time.perf_counter() - started:.1f}s (db reused: {reused})")
        token = sandbox.issue_token()["access_token"]
        customers, pages, size, elapsed = walk(sandbox.base_url, token, parse=not args.no_parse)
    print(
        f"{customers} customers, {pages} pages, {size / 1e6:.1f} MB in {elapsed:.2f}s: "
        f"{customers / elapsed:,.0f} customers/s ({pages / elapsed:.0f} pages/s, "
        f"client json parsing {'off' if args.no_parse else 'on'})"
    )


if __name__ == "__main__":
    main()
