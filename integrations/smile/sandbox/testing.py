"""Run a real sandbox as a subprocess from tests, benchmarks and drills.

    with SandboxProcess(customers=2000, rate_limit=0) as sandbox:
        token = sandbox.issue_token()["access_token"]
        httpx.get(f"{sandbox.api_base}/customers", headers={"Authorization": f"Bearer {token}"})
        sandbox.fault("503", count=2)

Keyword arguments map to CLI options (``rate_limit=0`` -> ``--rate-limit 0``; lists repeat the option;
``True`` -> bare flag; ``None`` -> omitted). The process gets a free port and a temporary ``--db``
(deleted at ``stop()``) unless ``db=`` is given.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import html
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from .config import DEFAULT_REDIRECT_URI, PROJECT_ROOT

READY_RE = re.compile(r"Smile sandbox listening on (http://[^\s:]+:(\d+))")
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" id="[^"]*" value="([^"]*)">')


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

    def stop(self) -> None:
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
        resp = self._http.request(method, path, json=json, params=params)
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
        return self.control("PATCH", "settings", json=values)

    def send_webhook(self, customer_id: int, duplicate: bool = False, previous: bool = False) -> list[int]:
        body = {"customer_id": customer_id, "duplicate": duplicate, "previous": previous}
        return self.control("POST", "webhooks/send", json=body)["queued"]

    def ping_webhook(self) -> list[int]:
        return self.control("POST", "webhooks/ping", json={})["queued"]

    def webhook_deliveries(self, wait: float = 5.0) -> list[dict]:
        return self.control("GET", "webhooks/deliveries", params={"wait": wait})["deliveries"]

    # ---- OAuth -----------------------------------------------------------------------------
    def authorize_params(
        self,
        scope: str | None = None,
        redirect_uri: str | None = None,
        state: str | None = None,
        pkce: bool = True,
    ) -> tuple[dict, str | None]:
        params = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri or self.redirect_uri,
            "state": state or secrets.token_hex(8),
        }
        if scope is not None:
            params["scope"] = scope
        verifier = None
        if pkce:
            verifier = secrets.token_urlsafe(48)
            digest = hashlib.sha256(verifier.encode()).digest()
            params["code_challenge"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            params["code_challenge_method"] = "S256"
        return params, verifier

    def authorize_code(self, params: dict, approve: bool = True) -> dict[str, str]:
        """GET the consent page, submit its form with Approve/Deny; returns the redirect's query."""
        with httpx.Client(base_url=self.base_url, timeout=30.0) as client:
            page = client.get("/oauth2/authorize", params=params)
            if page.status_code != 200:
                raise SandboxError(f"consent page -> {page.status_code}", page.status_code, page.text)
            form = {name: html.unescape(value) for name, value in HIDDEN_RE.findall(page.text)}
            form["approve" if approve else "deny"] = "1"
            resp = client.post("/oauth2/authorize", data=form)
        if resp.status_code != 302:
            raise SandboxError(f"consent submit -> {resp.status_code}", resp.status_code, resp.text)
        query = parse_qs(urlsplit(resp.headers["location"]).query)
        return {k: v[0] for k, v in query.items()}

    def issue_token(
        self, scope: str | None = None, redirect_uri: str | None = None, pkce: bool = True
    ) -> dict:
        """Run the whole authorization-code flow (consent approved) and return the token JSON."""
        params, verifier = self.authorize_params(scope, redirect_uri, pkce=pkce)
        result = self.authorize_code(params)
        if result.get("state") != params["state"] or "code" not in result:
            raise SandboxError(f"authorization failed: {result}")
        data = {
            "grant_type": "authorization_code",
            "code": result["code"],
            "redirect_uri": params["redirect_uri"],
        }
        if verifier:
            data["code_verifier"] = verifier
        return self._token_call(data)

    def refresh(self, refresh_token: str) -> dict:
        return self._token_call({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _token_call(self, data: dict) -> dict:
        resp = httpx.post(
            f"{self.base_url}/oauth2/token",
            data=data,
            auth=(self.client_id, self.client_secret),
            timeout=30.0,
        )
        if resp.status_code != 200:
            raise SandboxError(
                f"token endpoint -> {resp.status_code}: {resp.text}", resp.status_code, resp.json()
            )
        return resp.json()

    def api_client(self, token: str, **kwargs) -> httpx.Client:
        """An httpx client for /v1 with the bearer token set (caller closes it)."""
        return httpx.Client(
            base_url=self.api_base,
            headers={"Authorization": f"Bearer {token}"},
            timeout=kwargs.pop("timeout", 30.0),
            **kwargs,
        )


def walk_customers(client: httpx.Client, max_pages: int = 100_000, **params) -> tuple[list[dict], list[dict]]:
    """Follow ``next_cursor`` from the first page; returns (all customers, every raw page body)."""
    customers, pages, cursor = [], [], None
    for _ in range(max_pages):
        query = dict(params, cursor=cursor) if cursor else dict(params)
        resp = client.get("/customers", params=query)
        resp.raise_for_status()
        page = resp.json()
        pages.append(page)
        customers.extend(page["customers"])
        cursor = page["metadata"]["next_cursor"]
        if not cursor:
            return customers, pages
    raise SandboxError(f"cursor chain longer than {max_pages} pages")
