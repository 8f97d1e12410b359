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
CURSOR_MODES = ("keyset", "opaque-400", "opaque-404", "opaque-500", "opaque-wrong")
TOKEN_AUTH = ("basic", "form", "both")
UPDATED_AT_MIN = ("inclusive", "exclusive")
VIP_TIERS_STATUS = (200, 403, 404)
DEFAULT_SIZES = "lognormal:median=200,sigma=1,max=200000"
# Options that are yes|no on the command line and booleans in PATCH /_sandbox/settings.
YES_NO = ("tier_delete_bumps_updated_at", "tier_delete_webhooks", "webhook_vip_status")


@dataclass(frozen=True)
class SizeSpec:
    """Sizes of programs 2..N: ``fixed:N`` or ``lognormal:median=M[,sigma=S][,max=X]``."""

    kind: str
    median: float
    sigma: float = 1.0
    max: int = 200_000


def parse_sizes(text: str) -> SizeSpec:
    kind, _, rest = text.partition(":")
    try:
        if kind == "fixed":
            return SizeSpec("fixed", float(int(rest)), 0.0, int(rest))
        if kind == "lognormal":
            fields = dict(item.split("=", 1) for item in rest.split(",") if item)
            if set(fields) - {"median", "sigma", "max"} or "median" not in fields:
                raise ValueError(text)
            spec = SizeSpec(
                "lognormal",
                float(fields["median"]),
                float(fields.get("sigma", 1.0)),
                int(fields.get("max", 200_000)),
            )
            if spec.median > 0 and spec.sigma >= 0 and spec.max >= 0:
                return spec
    except ValueError:
        pass
    raise ValueError(
        "--size-distribution must be fixed:N or lognormal:median=M[,sigma=S][,max=X] (non-negative numbers)"
    )


PERIOD_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_change_rate(text: str) -> tuple[float, float]:
    """``0.005/15m`` -> (0.005, 900.0): the fraction of a program's customers changed per period."""
    fraction, _, period = text.partition("/")
    try:
        value, seconds = float(fraction), float(period[:-1]) * PERIOD_UNITS[period[-1:]]
    except (ValueError, KeyError):
        value, seconds = -1.0, 0.0
    if not (0 <= value <= 1 and seconds > 0):
        raise ValueError("--change-rate must look like 0.005/15m (a fraction 0-1 per N s|m|h|d)")
    return value, seconds


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
    # Modes for what Smile does not document (README, "Assumptions"); all changeable at runtime.
    cursor_mode: str = "keyset"
    no_account_id: bool = False
    vip_tiers_status: int = 200
    tier_delete_bumps_updated_at: bool = True
    tier_delete_webhooks: bool = True
    token_auth: str = "both"
    updated_at_min: str = "inclusive"
    rate_limit_headers: bool = False
    webhook_vip_status: bool = True
    # A fleet of programs (Smile accounts) in one process.
    programs: int = 1
    size_distribution: str = DEFAULT_SIZES
    change_rate: str | None = None

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
        if self.cursor_mode not in CURSOR_MODES:
            raise ValueError(f"--cursor-mode must be one of {', '.join(CURSOR_MODES)}")
        if self.vip_tiers_status not in VIP_TIERS_STATUS:
            raise ValueError("--vip-tiers-status must be 200, 403 or 404")
        if self.token_auth not in TOKEN_AUTH:
            raise ValueError("--token-auth must be basic, form or both")
        if self.updated_at_min not in UPDATED_AT_MIN:
            raise ValueError("--updated-at-min must be inclusive or exclusive")
        if not 1 <= self.programs <= 1_000_000:
            raise ValueError("--programs must be between 1 and 1000000")
        parse_sizes(self.size_distribution)
        if self.change_rate is not None:
            parse_change_rate(self.change_rate)


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
    a(
        "--account-id",
        type=int,
        default=d.account_id,
        help="Smile account id of program 1; program n has this + n - 1 (default: %(default)s)",
    )
    a(
        "--account-name",
        default=d.account_name,
        help="account name on the consent page and in token responses (default: %(default)s)",
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
    add_mode_arguments(parser, d)
    add_fleet_arguments(parser, d)


def yes_no(value: str) -> bool:
    if value not in ("yes", "no"):
        raise argparse.ArgumentTypeError("expected yes or no")
    return value == "yes"


def add_mode_arguments(parser: argparse.ArgumentParser, d: SandboxConfig) -> None:
    """Each possibility where Smile's behaviour is unknown (README, "Assumptions")."""
    a = parser.add_argument
    a(
        "--cursor-mode",
        choices=CURSOR_MODES,
        default=d.cursor_mode,
        help="keyset: base64 'id:N,direction:next' cursors, invented ones work; opaque-400|404|500: "
        "signed opaque cursors, one not issued here gets that status; opaque-wrong: one not issued "
        "here is ignored (the walk restarts at the top) (default: %(default)s)",
    )
    a(
        "--no-account-id",
        action="store_true",
        help="token responses carry no account_id nor account_name (webhooks still carry account_id)",
    )
    a(
        "--vip-tiers-status",
        type=int,
        choices=VIP_TIERS_STATUS,
        default=d.vip_tiers_status,
        help="403|404: a program without VIP: GET /v1/vip_tiers answers that status and no customer "
        "has a tier (default: %(default)s)",
    )
    for name, what in (
        ("tier-delete-bumps-updated-at", "deleting a tier bumps its customers' updated_at"),
        ("tier-delete-webhooks", "deleting a tier sends a customer/updated webhook per moved customer"),
        ("webhook-vip-status", "webhooks' data.customer carries vip_status"),
    ):
        a(f"--{name}", type=yes_no, metavar="yes|no", default=True, help=f"{what} (default: yes)")
    a(
        "--token-auth",
        choices=TOKEN_AUTH,
        default=d.token_auth,
        help="client authentication the token endpoint accepts: the Basic header, form fields or both "
        "(default: %(default)s)",
    )
    a(
        "--updated-at-min",
        choices=UPDATED_AT_MIN,
        default=d.updated_at_min,
        help="whether updated_at_min keeps customers updated exactly at that time (default: %(default)s)",
    )
    a(
        "--rate-limit-headers",
        action="store_true",
        help="send X-RateLimit-Limit / X-RateLimit-Remaining on /v1 and Retry-After on 429s "
        "(Smile documents none; default: off)",
    )


def add_fleet_arguments(parser: argparse.ArgumentParser, d: SandboxConfig) -> None:
    """Many programs (Smile accounts) in one process (README, "Programs")."""
    a = parser.add_argument
    a(
        "--programs",
        type=int,
        default=d.programs,
        help="programs (Smile accounts) served; program 1 is sized by --customers, program n accepts "
        "the API key api_fleet_<n> (default: %(default)s)",
    )
    a(
        "--size-distribution",
        default=d.size_distribution,
        help="sizes of programs 2..N: fixed:N or lognormal:median=M[,sigma=S][,max=X], deterministic "
        "per --seed (default: %(default)s)",
    )
    a(
        "--change-rate",
        default=None,
        help="background changes, e.g. 0.005/15m: that fraction of every generated program's "
        "customers changes per period, spread evenly (default: none)",
    )


def config_from_options(opts: dict) -> SandboxConfig:
    """Build a config from parsed options (argparse namespace vars or Django's options dict)."""
    d = SandboxConfig()
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
        cursor_mode=opts.get("cursor_mode", d.cursor_mode),
        no_account_id=bool(opts.get("no_account_id")),
        vip_tiers_status=opts.get("vip_tiers_status", d.vip_tiers_status),
        tier_delete_bumps_updated_at=opts.get("tier_delete_bumps_updated_at", True),
        tier_delete_webhooks=opts.get("tier_delete_webhooks", True),
        token_auth=opts.get("token_auth", d.token_auth),
        updated_at_min=opts.get("updated_at_min", d.updated_at_min),
        rate_limit_headers=bool(opts.get("rate_limit_headers")),
        webhook_vip_status=opts.get("webhook_vip_status", True),
        programs=opts.get("programs", d.programs),
        size_distribution=opts.get("size_distribution", d.size_distribution),
        change_rate=opts.get("change_rate"),
    )
    cfg.validate()
    return cfg
