"""Run a real sandbox as a subprocess (benchmarks, tests, drills) and drive its control API.

    with SandboxProcess(customers=2000, rate_limit=0, api_key=["api_x"]) as sandbox:
        httpx.get(f"{sandbox.api_base}/customers", headers={"Authorization": "Bearer api_x"})
        sandbox.fault("503", count=2)

(The tests' subclass, ``tests/support/sandbox.py``, adds the OAuth consent flow and walking helpers.)

Keyword arguments map to CLI options (``rate_limit=0`` -> ``--rate-limit 0``; lists repeat the option;
``True`` -> bare flag; ``None`` -> omitted; a yes|no option takes a bool). The process gets a free port
and a temporary ``--db`` (deleted at ``stop()``) unless ``db=`` is given.

With ``programs=N``, ``sandbox.for_program(n)`` is a view of the same process whose control calls
carry ``X-Sandbox-Program: n`` and whose ``issue_token()`` connects to program n (``.api_key`` is
``api_fleet_<n>``); stopping a view does nothing.
"""

from __future__ import annotations

import collections
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import httpx

from .config import DEFAULT_REDIRECT_URI, PROJECT_ROOT, YES_NO

READY_RE = re.compile(r"Smile sandbox listening on (http://[^\s:]+:(\d+))")
MISSING = object()


class SandboxError(RuntimeError):
    """The sandbox failed to start, or a control call answered with an error status."""

    def __init__(self, message: str, status: int | None = None, body=None):
        super().__init__(message)
        self.status, self.body = status, body


class SandboxProcess:
    def __init__(
        self,
        *,
        customers: int = 2000,
        seed: int = 1,
        db: str | Path | None = None,
        via_manage: bool = False,
        startup_timeout: float = 120.0,
        **options,
    ):
        self.options = {"customers": customers, "seed": seed, **options}
        self.via_manage = via_manage
        self.startup_timeout = startup_timeout
        self._tmpdir = None if db is not None else tempfile.mkdtemp(prefix="smile-sandbox-")
        self.db = Path(db) if db is not None else Path(self._tmpdir) / "sandbox.sqlite3"
        self.control_token = options.get("control_token", "sandbox-control")
        self.client_id = options.get("client_id", "sandbox-client")
        self.client_secret = options.get("client_secret", "sandbox-secret")
        uris = options.get("redirect_uri") or [DEFAULT_REDIRECT_URI]
        self.redirect_uris = [uris] if isinstance(uris, str) else list(uris)
        self.program: int | None = None  # set on for_program() views
        self.shared = {"token_auth": options.get("token_auth", "both")}  # shared with the views
        self.proc: subprocess.Popen | None = None
        self.output: collections.deque[str] = collections.deque(maxlen=500)
        self.base_url = ""
        self.port = 0
        self._http: httpx.Client | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    def command(self) -> list[str]:
        args = (
            [sys.executable, "manage.py", "smile_sandbox"]
            if self.via_manage
            else [sys.executable, "-m", "integrations.smile.sandbox"]
        )
        opts = {"host": "127.0.0.1", "port": 0, **self.options, "db": str(self.db)}
        for key, value in opts.items():
            flag = "--" + key.replace("_", "-")
            if key in YES_NO and isinstance(value, bool):
                value = "yes" if value else "no"
            if value is None or value is False:
                continue
            if value is True:
                args.append(flag)
            elif isinstance(value, list | tuple):
                for item in value:
                    args += [flag, str(item)]
            else:
                args += [flag, str(value)]
        return args

    def start(self) -> SandboxProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if self.via_manage and not env.get("SECRET_KEY"):
            env.setdefault("DEBUG", "1")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and options
            self.command(),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        ready = threading.Event()
        threading.Thread(target=self._drain, args=(ready,), daemon=True, name="sandbox-output").start()
        if not ready.wait(self.startup_timeout) or not self.port:
            tail = "\n".join(self.output)
            self.stop()
            raise SandboxError(f"sandbox did not start within {self.startup_timeout}s:\n{tail}")
        self._http = httpx.Client(
            base_url=self.base_url, timeout=60.0, headers={"X-Sandbox-Control": self.control_token}
        )
        return self

    def _drain(self, ready: threading.Event) -> None:
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))
            match = READY_RE.search(line)
            if match and not ready.is_set():
                self.base_url, self.port = match.group(1), int(match.group(2))
                ready.set()
        ready.set()  # process ended: unblock start()

    def for_program(self, n: int) -> SandboxProcess:
        """A view of this process for program n (control calls and tokens are program n's)."""
        view = copy.copy(self)
        view.program = n
        return view

    @property
    def api_key(self) -> str:
        """The merchant API key of this view's program (``api_fleet_<n>``)."""
        return f"api_fleet_{self.program or 1}"

    def stop(self) -> None:
        if self.program is not None:
            return  # a view: the process belongs to the SandboxProcess it came from
        if self._http is not None:
            self._http.close()
            self._http = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> SandboxProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def redirect_uri(self) -> str:
        return self.redirect_uris[0]

    # ---- control API -----------------------------------------------------------------------
    def control(self, method: str, path: str, json=None, params=None):
        """Call /_sandbox/<path>; returns the parsed JSON, raises SandboxError on >= 400."""
        path = path if path.startswith("/_sandbox") else "/_sandbox/" + path.lstrip("/")
        headers = None if self.program is None else {"X-Sandbox-Program": str(self.program)}
        resp = self._http.request(method, path, json=json, params=params, headers=headers)
        body = resp.json() if resp.content else None
        if resp.status_code >= 400:
            raise SandboxError(f"{method} {path} -> {resp.status_code}: {body}", resp.status_code, body)
        return body

    def health(self) -> dict:
        return self.control("GET", "health")

    def create_customer(self, **fields) -> dict:
        return self.control("POST", "customers", json=fields)["customer"]

    def get_customer(self, customer_id: int) -> dict:
        return self.control("GET", f"customers/{customer_id}")["customer"]

    def patch_customer(self, customer_id: int, **fields) -> dict:
        return self.control("PATCH", f"customers/{customer_id}", json=fields)["customer"]

    def delete_customer(self, customer_id: int) -> None:
        self.control("DELETE", f"customers/{customer_id}")

    def create_tier(self, name: str, milestone: float, **fields) -> dict:
        return self.control("POST", "vip_tiers", json={"name": name, "milestone": milestone, **fields})[
            "vip_tier"
        ]

    def patch_tier(self, tier_id: int, **fields) -> dict:
        return self.control("PATCH", f"vip_tiers/{tier_id}", json=fields)["vip_tier"]

    def delete_tier(self, tier_id: int) -> dict:
        return self.control("DELETE", f"vip_tiers/{tier_id}")

    def fault(self, kind: str, count: int | None = None, seconds: float | None = None, **extra) -> dict:
        spec = {"kind": kind, **extra}
        if count is not None:
            spec["count"] = count
        if seconds is not None:
            spec["seconds"] = seconds
        return self.control("POST", "faults", json=spec)["fault"]

    def faults(self) -> list[dict]:
        return self.control("GET", "faults")["faults"]

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def revoke_tokens(self, token: str | None = None) -> int:
        return self.control("POST", "tokens/revoke", json={"token": token} if token else {})["revoked"]

    def expire_tokens(self) -> int:
        return self.control("POST", "tokens/expire", json={})["expired"]

    def requests_log(self, since: float | None = None, limit: int | None = None) -> list[dict]:
        params = {k: v for k, v in {"since": since, "limit": limit}.items() if v is not None}
        return self.control("GET", "requests", params=params)["requests"]

    def clear_requests_log(self) -> None:
        self.control("DELETE", "requests")

    def export(self) -> dict:
        return self.control("GET", "export")

    def reset(
        self,
        customers: int | None = None,
        seed: int | None = None,
        program: str | None = None,
        tiers: int | None = None,
    ) -> dict:
        body = {
            k: v
            for k, v in {"customers": customers, "seed": seed, "program": program, "tiers": tiers}.items()
            if v is not None
        }
        return self.control("POST", "reset", json=body)

    def settings(self, **values) -> dict:
        """Change settings and modes at runtime (PATCH /_sandbox/settings); returns them all."""
        current = self.control("PATCH", "settings", json=values)
        self.shared["token_auth"] = current["token_auth"]
        return current

    def corrupt_customer(self, customer_id: int, field: str, value=MISSING) -> dict:
        """Make the customer render with ``field`` = value (any JSON), or without it (no value)."""
        body = {"field": field} if value is MISSING else {"field": field, "value": value}
        return self.control("POST", f"customers/{customer_id}/corrupt", json=body)["customer"]

    def repair_customer(self, customer_id: int) -> dict:
        return self.control("DELETE", f"customers/{customer_id}/corrupt")["customer"]

    def programs(self) -> list[dict]:
        return self.control("GET", "programs")["programs"]

    def send_webhook(self, customer_id: int, duplicate: bool = False, previous: bool = False) -> list[int]:
        body = {"customer_id": customer_id, "duplicate": duplicate, "previous": previous}
        return self.control("POST", "webhooks/send", json=body)["queued"]

    def ping_webhook(self) -> list[int]:
        return self.control("POST", "webhooks/ping", json={})["queued"]

    def webhook_deliveries(self, wait: float = 5.0) -> list[dict]:
        return self.control("GET", "webhooks/deliveries", params={"wait": wait})["deliveries"]
