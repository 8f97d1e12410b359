"""Shared plumbing: sizes, the cached sandbox data, a throwaway bench database, the sync subprocess, results.

Every figure returns ``Figure`` objects; ``record()`` prints them next to their in-run baseline and appends
one JSON line per figure to ``bench/results/<date>.jsonl`` with the machine's state.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from integrations.smile.sandbox.process import SandboxProcess

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
TMP = BENCH / "tmp"
RESULTS = BENCH / "results"
PYTHON = sys.executable
API_KEY = "api_bench_0123456789abcdef"
SETTINGS = "bench.settings"

SIZES = {
    # figure -> customers, per mode
    "smoke": {
        "throttled": (2_000,),
        "engine": 5_000,
        "delta": 5_000,
        "lookup": 5_000,
        "lookup_items": 20_000,
        "lookup_seconds": 2,
        "webhooks": 2_000,
        "webhook_count": 5,
        "outbound": 2_000,
        "outbound_rounds": 1,
        "fleet": {
            "merchants": 12,
            "largest": 3_000,
            "clusters": 2,
            "workers": 2,
            "rounds": 1,
            "compress": 300,
            "day_minutes": 0.1,
            "webhook_rate": 20,
            "webhook_seconds": 2,
            "sample": 5,
        },
    },
    "default": {
        "throttled": (20_000, 100_000),
        "engine": 200_000,
        "delta": 100_000,
        "lookup": 200_000,
        "lookup_items": 1_000_000,
        "lookup_seconds": 30,
        "webhooks": 20_000,
        "webhook_count": 200,
        "outbound": 100_000,
        "outbound_rounds": 3,
        "fleet": {"merchants": 2_000, "largest": 200_000, "clusters": 2, "workers": 4, "day_minutes": 6},
    },
    "full": {
        "throttled": (20_000, 100_000, 1_000_000),
        "engine": 1_000_000,
        "delta": 1_000_000,
        "lookup": 1_000_000,
        "lookup_items": 1_000_000,
        "lookup_seconds": 30,
        "webhooks": 100_000,
        "webhook_count": 200,
        "outbound": 1_000_000,
        "outbound_rounds": 1,
        "fleet": {"merchants": 10_000, "largest": 200_000, "clusters": 2, "workers": 4, "day_minutes": 20},
    },
}


@dataclass
class Figure:
    number: int
    name: str
    value: float
    unit: str
    baseline: float | None
    baseline_name: str
    ratio: float | None  # value / baseline (or the figure's own definition, see `ratio_name`)
    ratio_name: str
    target: str
    passed: bool | None
    details: dict = field(default_factory=dict)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "host": platform.node()}


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4f}"


def results_path(mode: str) -> Path:
    """bench/results/<date>.jsonl; smoke runs (every `make test`) go to bench/tmp/results-smoke/ instead."""
    folder = TMP / "results-smoke" if mode == "smoke" else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{datetime.now(UTC):%Y-%m-%d}.jsonl"


def record(figures: list[Figure], *, mode: str, load_before: list[float], seconds: float) -> None:
    path = results_path(mode)
    load_after = loadavg()
    with path.open("a") as fh:
        for fig in figures:
            line = {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "mode": mode,
                "commit": git_commit(),
                "machine": machine(),
                "load_before": load_before,
                "load_after": load_after,
                "bench_seconds": round(seconds, 1),
                **asdict(fig),
            }
            fh.write(json.dumps(line, default=str) + "\n")
    print(f"  appended to {path.relative_to(ROOT)}")
    for fig in figures:
        verdict = "PASS" if fig.passed else ("MISS" if fig.passed is False else "INFO")
        print(
            f"  [{verdict}] {fig.number}. {fig.name}: {fmt(fig.value)} {fig.unit} | baseline "
            f"({fig.baseline_name}) {fmt(fig.baseline)} | {fig.ratio_name} {fmt(fig.ratio)}"
            f" | target {fig.target} | load {load_before} -> {load_after}",
            flush=True,
        )
        if fig.details.get("summary"):
            print(f"      {fig.details['summary']}", flush=True)


# --- sandbox ------------------------------------------------------------------------------------
def sandbox(customers: int, **options) -> SandboxProcess:
    """A sandbox on a cached data file (generated once per size under bench/tmp/)."""
    TMP.mkdir(parents=True, exist_ok=True)
    db = TMP / f"sandbox-{customers}.sqlite3"
    return SandboxProcess(
        customers=customers, db=db, api_key=[API_KEY], startup_timeout=600, **options
    ).start()


def export_customers(sb: SandboxProcess):
    """Every customer of the sandbox's ground-truth export (streamed NDJSON), as dicts."""
    import httpx

    with (
        httpx.Client(timeout=600) as client,
        client.stream(
            "GET",
            f"{sb.base_url}/_sandbox/export",
            params={"format": "ndjson"},
            headers={"X-Sandbox-Control": sb.control_token},
        ) as resp,
    ):
        for line in resp.iter_lines():
            if line and '"type": "customer"' in line[:40]:
                yield json.loads(line)


# --- bench database -------------------------------------------------------------------------------
def base_env(**extra) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS,
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
        API_RATE_LIMIT="100000000/m",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def djtool(args: list[str], env: dict, timeout: float = 7200) -> dict:
    proc = subprocess.run(
        [PYTHON, "-m", "bench.djtool", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            return json.loads(line[len("BENCH-JSON ") :])
    raise RuntimeError(
        f"djtool {args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )


def migrations_key() -> str:
    """Changes whenever a migration file is added or edited (the tree may change during a long run)."""
    import hashlib

    files = sorted(ROOT.glob("*/**/migrations/[0-9]*.py"))
    stamp = "|".join(f"{f}:{f.stat().st_mtime_ns}" for f in files if ".venv" not in f.parts)
    return hashlib.sha256(stamp.encode()).hexdigest()[:12]


class BenchDb:
    """A throwaway SQLite database (migrated), one merchant connected to ``sb`` by API key, three lists."""

    def __init__(self, name: str, sb: SandboxProcess, rate_limit: float):
        TMP.mkdir(parents=True, exist_ok=True)
        self.dir = TMP / f"run-{os.getpid()}"
        self.dir.mkdir(exist_ok=True)
        self.path = self.dir / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)
        self.sandbox = sb
        self.env = base_env(
            SQLITE_PATH=self.path,
            SMILE_API_BASE=sb.api_base,
            SMILE_RATE_LIMIT_PER_SECOND=rate_limit,
            SMILE_OAUTH_AUTHORIZE_URL=f"{sb.base_url}/oauth2/authorize",
            SMILE_OAUTH_TOKEN_URL=f"{sb.base_url}/oauth2/token",
        )
        template = self.dir / f"migrated-{migrations_key()}.sqlite3"
        if not template.exists():  # migrate once per bench run (and migration set), copy for each figure
            djtool(["migrate"], dict(self.env, SQLITE_PATH=str(template)))
            with sqlite3.connect(template) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(template, self.path)
        self.info = djtool(["setup", "--api-key", API_KEY], self.env)

    def sync(self, full: bool = True) -> dict:
        result = djtool(["sync"] + (["--full"] if full else []), self.env)
        if result["status"] not in ("succeeded", "held"):
            raise RuntimeError(f"sync failed: {result}")
        return result

    def remove(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)


def cleanup_run_dir() -> None:
    shutil.rmtree(TMP / f"run-{os.getpid()}", ignore_errors=True)


def wait_until(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(interval)
