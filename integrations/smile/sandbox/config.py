"""Sandbox configuration: one dataclass plus the command-line options that fill it.

The same ``add_arguments`` feeds ``python -m integrations.smile.sandbox`` and
``python manage.py smile_sandbox`` so both entry points document identical defaults in ``--help``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DB = PROJECT_ROOT / "var" / "smile_sandbox.sqlite3"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8000/integrations/smile/oauth/callback"
DEFAULT_SCOPES = "customer:read vip_tier:read points_settings:read"
PROGRAMS = ("calendar", "lifetime")


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 8001
    customers: int = 5000
    seed: int = 1
    program: str = "calendar"
    tiers: int = 4
    latency_ms: int = 0
    rate_limit: int = 10
    retry_after: int | None = None
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    redirect_uris: list[str] = field(default_factory=lambda: [DEFAULT_REDIRECT_URI])
    api_keys: list[str] = field(default_factory=list)
    control_token: str = "sandbox-control"
    webhook_url: str | None = None
    webhook_header: str = "X-Smile-Hmac-Sha256"
    webhook_encoding: str = "base64"
    account_id: int = 1
    account_name: str = "Sandbox Store"
    app_name: str = "Smile loyalty lists"
    scopes: list[str] = field(default_factory=lambda: DEFAULT_SCOPES.split())
    token_ttl: int = 3600
    code_ttl: int = 60
    db: Path = DEFAULT_DB
    request_log_size: int = 200_000

    def validate(self) -> None:
        if self.program not in PROGRAMS:
            raise ValueError(f"--program must be one of {PROGRAMS}")
        if self.tiers not in (3, 4):
            raise ValueError("--tiers must be 3 or 4")
        if self.customers < 0:
            raise ValueError("--customers must be >= 0")
        if self.webhook_encoding not in ("base64", "hex"):
            raise ValueError("--webhook-encoding must be base64 or hex")
        if self.rate_limit < 0 or self.latency_ms < 0:
            raise ValueError("--rate-limit and --latency-ms must be >= 0")
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise ValueError("--webhook-url must be an http(s) URL")
        if not self.redirect_uris:
            raise ValueError("at least one --redirect-uri is required")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register every sandbox option (with its default shown in --help)."""
    d = SandboxConfig()
    a = parser.add_argument
    a("--host", default=d.host, help="interface to bind (default: %(default)s)")
    a(
        "--port",
        type=int,
        default=d.port,
        help="port; 0 picks a free one and prints it (default: %(default)s)",
    )
    a("--customers", type=int, default=d.customers, help="customers to generate (default: %(default)s)")
    a("--seed", type=int, default=d.seed, help="random seed for the generated data (default: %(default)s)")
    a(
        "--program",
        choices=PROGRAMS,
        default=d.program,
        help="calendar: tiers expire at the end of a year; lifetime: expiry null (default: %(default)s)",
    )
    a("--tiers", type=int, choices=(3, 4), default=d.tiers, help="number of VIP tiers (default: %(default)s)")
    a(
        "--latency-ms",
        type=int,
        default=d.latency_ms,
        help="extra latency added to every /v1 response (default: %(default)s)",
    )
    a(
        "--rate-limit",
        type=int,
        default=d.rate_limit,
        help="accepted /v1 requests per token in any sliding second; 0 = unlimited (default: %(default)s)",
    )
    a(
        "--retry-after",
        type=int,
        default=None,
        help="send 'Retry-After: N' on rate-limit 429s (Smile documents none; default: not sent)",
    )
    a("--client-id", default=d.client_id, help="OAuth client id (default: %(default)s)")
    a(
        "--client-secret",
        default=d.client_secret,
        help="OAuth client secret, also the webhook signing key (default: %(default)s)",
    )
    a(
        "--redirect-uri",
        dest="redirect_uris",
        action="append",
        default=None,
        help="whitelisted redirect URI, repeatable; the first is the default "
        f"(default: {DEFAULT_REDIRECT_URI})",
    )
    a(
        "--api-key",
        dest="api_keys",
        action="append",
        default=None,
        help="merchant private key (api_...) accepted as a bearer token with all scopes; repeatable "
        "(default: none)",
    )
    a(
        "--control-token",
        default=d.control_token,
        help="value of the X-Sandbox-Control header for /_sandbox/* (default: %(default)s)",
    )
    a("--webhook-url", default=None, help="where customer/updated and ping webhooks go (default: none)")
    a("--webhook-header", default=d.webhook_header, help="signature header name (default: %(default)s)")
    a(
        "--webhook-encoding",
        choices=("base64", "hex"),
        default=d.webhook_encoding,
        help="signature encoding (default: %(default)s)",
    )
    a("--account-id", type=int, default=d.account_id, help="Smile account id (default: %(default)s)")
    a(
        "--account-name",
        default=d.account_name,
        help="account name on the consent page (default: %(default)s)",
    )
    a("--app-name", default=d.app_name, help="app name on the consent page (default: %(default)s)")
    a(
        "--scopes",
        default=DEFAULT_SCOPES,
        help="the app's configured scopes, space-separated (default: %(default)s)",
    )
    a(
        "--token-ttl",
        type=int,
        default=d.token_ttl,
        help="access token expires_in seconds (default: %(default)s)",
    )
    a(
        "--code-ttl",
        type=int,
        default=d.code_ttl,
        help="authorization code lifetime in seconds (default: %(default)s)",
    )
    a(
        "--db",
        default=str(d.db),
        help="the sandbox's own SQLite file; reused when customers/seed/program/tiers match "
        "(default: %(default)s)",
    )


def config_from_options(opts: dict) -> SandboxConfig:
    """Build a config from parsed options (argparse namespace vars or Django's options dict)."""
    cfg = SandboxConfig(
        host=opts["host"],
        port=opts["port"],
        customers=opts["customers"],
        seed=opts["seed"],
        program=opts["program"],
        tiers=opts["tiers"],
        latency_ms=opts["latency_ms"],
        rate_limit=opts["rate_limit"],
        retry_after=opts.get("retry_after"),
        client_id=opts["client_id"],
        client_secret=opts["client_secret"],
        redirect_uris=opts.get("redirect_uris") or [DEFAULT_REDIRECT_URI],
        api_keys=opts.get("api_keys") or [],
        control_token=opts["control_token"],
        webhook_url=opts.get("webhook_url"),
        webhook_header=opts["webhook_header"],
        webhook_encoding=opts["webhook_encoding"],
        account_id=opts["account_id"],
        account_name=opts["account_name"],
        app_name=opts["app_name"],
        scopes=opts["scopes"].split(),
        token_ttl=opts["token_ttl"],
        code_ttl=opts["code_ttl"],
        db=Path(opts["db"]),
    )
    cfg.validate()
    return cfg
