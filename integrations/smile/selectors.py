"""Reads of the merchant's Smile connection, for pages, the sync engine and webhook routing."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet

from .crypto import DecryptionError
from .errors import SmileAuthError, SmileNotConnected
from .models import SmileConnection


@dataclass(frozen=True)
class ConnectionStatus:
    """What any page may show about a merchant's Smile connection. Never holds a secret."""

    state: str  # "connected" | "needs_reconnect" | "not_connected"
    label: str  # "Connected" | "Needs reconnect" | "Not connected"
    badge: str  # CSS modifier for .badge: "ok" | "bad" | ""
    auth_kind: str = ""  # "oauth" | "api_key" | ""
    auth_kind_label: str = ""
    account_id: str = ""
    account_name: str = ""  # when Smile's token response named the account
    scopes: list[str] = field(default_factory=list)
    expires_at: datetime | None = None
    connected_at: datetime | None = None
    connected_by: str = ""
    last_health_check_at: datetime | None = None
    last_health_check_ok: bool | None = None
    last_health_check_message: str = ""
    last_error_message: str = ""
    last_error_at: datetime | None = None
    capabilities: dict = field(default_factory=dict)  # capabilities.py: {name: {"verdict", "reason", "at"}}

    @property
    def is_connected(self) -> bool:
        """True when syncing can use the connection."""
        return self.state == "connected"

    @property
    def needs_reconnect(self) -> bool:
        return self.state == "needs_reconnect"

    @property
    def webhooks_unrouted(self) -> bool:
        """An OAuth connection that does not know its Smile account yet: webhooks cannot reach it."""
        return self.auth_kind == "oauth" and not self.account_id

    @property
    def walk_strategy(self) -> str:
        """How full walks run on this connection, in words (``capabilities.ID_RANGE``)."""
        known = self.capabilities.get("id_range_cursors", {})
        if known.get("verdict") == "verified":
            return "In parallel id ranges: cursors made by this app were checked against Smile's own."
        if known.get("verdict") == "unsupported":
            return (
                "Per state, with Smile's own cursors (the documented way): cursors made by this app"
                f" did not work here ({known.get('reason', '')})."
            )
        return (
            "Per state, with Smile's own cursors (the documented way), until a check shows faster walks work."
        )

    @property
    def vip_tiers_note(self) -> str:
        known = self.capabilities.get("vip_tiers", {})
        if known.get("verdict") == "unavailable":
            return f"Not readable ({known.get('reason', '')}): member lists work, tier lists are unavailable."
        return "Readable." if known.get("verdict") == "available" else "Not checked yet."

    @property
    def account_label(self) -> str:
        """How pages name the Smile account: its name, else "Smile account <id>", else ""."""
        if self.account_name:
            return self.account_name
        return f"Smile account {self.account_id}" if self.account_id else ""


def connection_get(*, merchant) -> SmileConnection | None:
    return SmileConnection.objects.for_merchant(merchant).select_related("connected_by").first()


def connection_status(merchant) -> ConnectionStatus:
    connection = connection_get(merchant=merchant)
    if connection is None:
        return ConnectionStatus(state="not_connected", label="Not connected", badge="")
    common = {
        "last_health_check_at": connection.last_health_check_at,
        "last_health_check_ok": connection.last_health_check_ok,
        "last_health_check_message": connection.last_health_check_message,
        "last_error_message": connection.last_error_message,
        "last_error_at": connection.last_error_at,
    }
    if connection.status == SmileConnection.Status.DISCONNECTED or not connection.has_credentials:
        return ConnectionStatus(state="not_connected", label="Not connected", badge="", **common)
    if connection.status == SmileConnection.Status.NEEDS_RECONNECT:
        state, label, badge = "needs_reconnect", "Needs reconnect", "bad"
    else:
        state, label, badge = "connected", "Connected", "ok"
    return ConnectionStatus(
        state=state,
        label=label,
        badge=badge,
        auth_kind=connection.auth_kind,
        auth_kind_label=connection.get_auth_kind_display() if connection.auth_kind else "",
        account_id=connection.account_id,
        account_name=connection.account_name,
        scopes=connection.scope_list,
        expires_at=connection.expires_at,
        connected_at=connection.connected_at,
        connected_by=connection.connected_by.email if connection.connected_by else "",
        capabilities=connection.capabilities,
        **common,
    )


def connection_usable_get(*, merchant) -> SmileConnection:
    """The connection the client may use, or the typed reason why there is none (no Smile call)."""
    connection = connection_get(merchant=merchant)
    if (
        connection is None
        or connection.status == SmileConnection.Status.DISCONNECTED
        or not connection.has_credentials
    ):
        raise SmileNotConnected("This merchant is not connected to Smile.")
    if connection.status == SmileConnection.Status.NEEDS_RECONNECT:
        reason = connection.last_error_message or "Smile no longer accepts the stored credentials."
        raise SmileAuthError(f"The Smile connection needs reconnecting: {reason}")
    try:
        connection.access_token()
    except DecryptionError as exc:
        raise SmileNotConnected(str(exc)) from None
    return connection


def connection_list_for_account(*, account_id) -> QuerySet:
    """Connections (connected or needing reconnect) for a Smile ``account_id``: webhook routing.

    Smile lets one account be connected by several merchants in principle; callers handle each row.
    """
    return (
        SmileConnection.objects.filter(account_id=str(account_id))
        .exclude(status=SmileConnection.Status.DISCONNECTED)
        .select_related("merchant")
        .order_by("pk")
    )


def connected_merchant_ids() -> list[int]:
    """Merchants whose connection the sync may use now (the schedules' fan-out)."""
    return list(
        SmileConnection.objects.filter(status=SmileConnection.Status.CONNECTED)
        .order_by("merchant_id")
        .values_list("merchant_id", flat=True)
    )


def connection_capability(*, merchant, name: str) -> dict:
    """What a probe last found out about ``name`` on the merchant's connection: ``{"verdict", "reason",
    "at"}``, or ``{}`` when never asked (or no connection)."""
    capabilities = (
        SmileConnection.objects.for_merchant(merchant).values_list("capabilities", flat=True).first() or {}
    )
    return capabilities.get(name, {})
