"""What an operator runs on day one with the real Smile: read-only probes of a merchant's live
connection that say, one line each, which of the product's assumptions about Smile hold there and what
the product does about each (``python manage.py smile_doctor --merchant SLUG``, or *Check compatibility*
on the connection page). Probes cost a handful of requests within the token's rate limit.
"""

import base64
import binascii
from dataclasses import asdict, dataclass
from datetime import UTC

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from . import capabilities
from .errors import SmileAuthError, SmileError, SmileNotFound, SmileScopeError
from .selectors import connection_get
from .services import client_for_merchant, connection_capability_record

PASS, WARN, FAIL = "pass", "warn", "fail"
WEBHOOK_SEEN_KEY = "smile:webhooks:last-verified"
WEBHOOK_REJECTED_KEY = "smile:webhooks:last-rejected"
UPDATED_AT_PAGES = 8  # how far the updated_at_min probe looks for its customer


@dataclass(frozen=True)
class Finding:
    name: str
    status: str  # PASS | WARN | FAIL
    observed: str  # what Smile did
    product: str  # what the product does about it

    def line(self) -> str:
        return f"[{self.status.upper():4}] {self.name}: {self.observed} -> {self.product}"


def webhook_seen(*, account_id, topic: str) -> None:
    """The receiver's note of its last verified webhook (the doctor's webhook line)."""
    cache.set(
        WEBHOOK_SEEN_KEY,
        {"account_id": str(account_id), "topic": topic, "at": timezone.now().isoformat()},
        None,
    )


def webhook_rejected(*, reason: str, header_present: bool) -> None:
    cache.set(
        WEBHOOK_REJECTED_KEY,
        {"reason": reason, "header_present": header_present, "at": timezone.now().isoformat()},
        None,
    )


def compatibility_report(*, merchant, client=None) -> list[Finding]:
    connection = connection_get(merchant=merchant)
    if connection is None or not connection.has_credentials:
        return [Finding("connection", FAIL, "not connected", "connect with Smile first")]
    findings = [_scopes(connection)]
    if client is None:
        with client_for_merchant(merchant, max_attempts=2, timeout=15) as real_client:
            findings += _live(merchant, real_client)
    else:
        findings += _live(merchant, client)
    findings += [_account(connection), _webhooks(connection)]
    return findings


def _live(merchant, client) -> list[Finding]:
    try:
        page = next(client.iter_customer_pages(limit=50))
    except SmileAuthError as exc:
        return [Finding("customers readable", FAIL, str(exc), "the connection needs reconnecting")]
    except SmileError as exc:
        return [Finding("customers readable", FAIL, str(exc), "nothing can sync until Smile answers")]
    found = [
        Finding(
            "customers readable",
            PASS,
            f"GET /customers answered ({len(page.customers)} on page 1)",
            "lists sync",
        )
    ]
    if page.quarantined:
        found.append(
            Finding(
                "customer records",
                WARN,
                f"{len(page.quarantined)} of page 1's records are malformed ({page.quarantined[0].reason})",
                "they are set aside (listed on each run), their list items kept; the rest syncs",
            )
        )
    found += [
        _tiers(merchant, client),
        _cursor_format(page),
        _id_ranges(merchant, client),
        _updated_at_min(client, page),
    ]
    headers = sorted(client.rate_limit_headers)
    found.append(
        Finding(
            "rate-limit headers",
            PASS,
            ", ".join(headers) if headers else "none sent (Smile documents none)",
            f"the client paces each token at {settings.SMILE_RATE_LIMIT_PER_SECOND:g} req/s itself"
            " and backs off on 429"
            + (" (honouring Retry-After)" if "retry-after" in {h.lower() for h in headers} else ""),
        )
    )
    return found


def _scopes(connection) -> Finding:
    if connection.auth_kind != "oauth":
        return Finding("scopes", PASS, "private API key (every scope)", "nothing to check")
    granted = set(connection.scope_list)
    missing_required = [s for s in settings.SMILE_OAUTH_REQUIRED_SCOPES if s not in granted]
    missing_optional = [
        s for s in settings.SMILE_OAUTH_SCOPES if s not in granted and s not in missing_required
    ]
    if missing_required:
        return Finding(
            "scopes", FAIL, f"not granted: {', '.join(missing_required)}", "reconnect and allow them"
        )
    if missing_optional:
        return Finding(
            "scopes",
            WARN,
            f"not granted: {', '.join(missing_optional)}",
            "works without them (see VIP tiers)",
        )
    return Finding("scopes", PASS, f"granted: {', '.join(sorted(granted))}", "as asked (SMILE_OAUTH_SCOPES)")


def _tiers(merchant, client) -> Finding:
    try:
        tiers = client.list_vip_tiers()
    except (SmileScopeError, SmileNotFound) as exc:
        connection_capability_record(
            merchant=merchant, name=capabilities.VIP_TIERS, verdict=capabilities.UNAVAILABLE, reason=str(exc)
        )
        return Finding(
            "VIP tiers readable",
            WARN,
            str(exc),
            "member lists work; tier lists are unavailable (said on the pages)",
        )
    except SmileError as exc:
        return Finding("VIP tiers readable", FAIL, str(exc), "syncs fail until Smile answers")
    connection_capability_record(
        merchant=merchant,
        name=capabilities.VIP_TIERS,
        verdict=capabilities.AVAILABLE,
        reason=f"{len(tiers)} tiers",
    )
    return Finding("VIP tiers readable", PASS, f"{len(tiers)} tiers", "tier lists available")


def _cursor_format(page) -> Finding:
    cursor = page.next_cursor
    if cursor is None:
        return Finding("cursor format", PASS, "one page holds every customer", "nothing to page")
    try:
        decoded = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if decoded.startswith("id:") and "direction:" in decoded:
        return Finding(
            "cursor format", PASS, "keyset on id, like Smile's documented example", "read as opaque anyway"
        )
    return Finding(
        "cursor format", PASS, "opaque (not the documented example's form)", "used as given; never parsed"
    )


def _id_ranges(merchant, client) -> Finding:
    probe = capabilities.id_range_probe(client)
    if probe.verdict != capabilities.UNKNOWN:
        connection_capability_record(
            merchant=merchant, name=capabilities.ID_RANGE, verdict=probe.verdict, reason=probe.reason
        )
    if probe.verdict == capabilities.VERIFIED:
        return Finding("made-up cursors", PASS, probe.reason, "full walks run in parallel id ranges")
    return Finding(
        "made-up cursors",
        WARN if probe.verdict == capabilities.UNSUPPORTED else PASS,
        probe.reason,
        "full walks run per state with Smile's own cursors (the documented way; slower for big programs)",
    )


def _updated_at_min(client, page) -> Finding:
    if not page.customers:
        return Finding(
            "updated_at_min", PASS, "no customers to try it with", "deltas overlap the last one by 5 minutes"
        )
    newest = max(page.customers, key=lambda c: c.updated_at)
    try:
        for n, found in enumerate(client.iter_customer_pages(updated_at_min=newest.updated_at), 1):
            ids = [c.id for c in found.customers]
            if newest.id in ids:
                return Finding(
                    "updated_at_min", PASS, "inclusive (>=)", "deltas overlap the last one by 5 minutes"
                )
            if n >= UPDATED_AT_PAGES or (ids and ids[-1] < newest.id):
                break
    except SmileError as exc:
        return Finding("updated_at_min", FAIL, str(exc), "deltas fail: only full walks would work")
    return Finding(
        "updated_at_min",
        WARN,
        "exclusive (>), or rounded",
        "deltas overlap the last one by 5 minutes: nothing is missed",
    )


def _account(connection) -> Finding:
    if connection.auth_kind != "oauth":
        return Finding(
            "account id", PASS, "private API key", "Smile sends no webhooks to keys: deltas every interval"
        )
    if connection.account_id:
        return Finding("account id", PASS, connection.account_id, "webhooks are routed to this merchant")
    return Finding(
        "account id",
        WARN,
        "not named by Smile's token response",
        "webhooks are counted as unrouted until the first one is matched to this connection by its shopper",
    )


def _moment(iso: str) -> str:
    """``2026-12-06T23:48:47.480738+00:00`` as ``6 Dec 2026, 23:48:47 UTC`` (the page and the command)."""
    try:
        at = parse_datetime(iso)
    except ValueError:
        return iso
    return at.astimezone(UTC).strftime("%-d %b %Y, %H:%M:%S UTC") if at else iso


def _webhooks(connection) -> Finding:
    seen = cache.get(WEBHOOK_SEEN_KEY)
    rejected = cache.get(WEBHOOK_REJECTED_KEY)
    header = settings.SMILE_WEBHOOK_SIGNATURE_HEADER
    if seen and (not connection.account_id or seen["account_id"] == connection.account_id):
        return Finding(
            "webhooks",
            PASS,
            f"a verified {seen['topic']} arrived at {_moment(seen['at'])} ({header})",
            "real-time updates work",
        )
    if rejected:
        hint = (
            f"signed, but not as configured ({header}, {settings.SMILE_WEBHOOK_SIGNATURE_ENCODING})"
            if rejected["header_present"]
            else f"without a {header} header"
        )
        return Finding(
            "webhooks",
            FAIL,
            f"the last one arrived {hint} at {_moment(rejected['at'])}",
            "refused (401): check the header and encoding settings",
        )
    return Finding(
        "webhooks",
        WARN,
        "none received yet",
        "create the app's webhook in Smile's Partner Portal (it sends a ping) to get updates within a second",
    )


def report_as_dicts(findings: list[Finding]) -> list[dict]:
    return [asdict(f) for f in findings]
