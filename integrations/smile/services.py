"""Writes to the merchant's Smile connection: connect (OAuth or API key), refresh, health check,
disconnect, key rotation. Plain functions, keyword-only; secrets are never logged or put in errors."""

import contextlib
import logging
import threading
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import crypto, signals
from .client import SmileClient
from .errors import SmileAuthError, SmileError, SmileNotFound, SmileScopeError
from .models import SmileConnection
from .oauth import REFRESH_MARGIN, StaticTokenProvider, TokenData, token_refresh
from .selectors import connection_capability, connection_usable_get

logger = logging.getLogger(__name__)

Status = SmileConnection.Status
AuthKind = SmileConnection.AuthKind


def _locked_connection(merchant) -> SmileConnection:
    connection, _ = SmileConnection.objects.get_or_create(merchant=merchant)
    return SmileConnection.objects.select_for_update().get(pk=connection.pk)


def _save_credentials(
    *,
    merchant,
    user,
    auth_kind,
    access_token,
    refresh_token="",
    expires_at=None,
    scopes=(),
    account_id="",
    account_name="",
) -> SmileConnection:
    with transaction.atomic():
        connection = _locked_connection(merchant)
        connection.auth_kind = auth_kind
        connection.status = Status.CONNECTED
        connection.set_tokens(access_token=access_token, refresh_token=refresh_token)
        connection.expires_at = expires_at
        connection.scopes = " ".join(scopes)
        connection.account_id = account_id
        connection.account_name = account_name
        connection.connected_at = timezone.now()
        connection.connected_by = user if getattr(user, "pk", None) else None
        connection.last_error_message = ""
        connection.last_error_at = None
        connection.save()
    return connection


def connection_oauth_complete(*, merchant, user, token: TokenData) -> SmileConnection:
    """Store the tokens of a finished OAuth flow (after checking the granted scopes), then run the
    health check. Raises ``SmileScopeError`` (nothing saved) when a required scope is missing."""
    missing = token.missing_scopes()
    if missing:
        raise SmileScopeError(
            "Smile did not grant the access this app needs ("
            + ", ".join(missing)
            + "). Nothing was connected; please connect again and allow all requested access."
        )
    _save_credentials(
        merchant=merchant,
        user=user,
        auth_kind=AuthKind.OAUTH,
        access_token=token.access_token,
        refresh_token=token.refresh_token,
        expires_at=token.expires_at,
        scopes=token.scopes,
        account_id=token.account_id,
        account_name=token.account_name,
    )
    logger.info(
        "Merchant %s connected to Smile with OAuth (account %s)", merchant.pk, token.account_id or "?"
    )
    connection = connection_health_check(merchant=merchant)
    _first_sync_enqueue(merchant)
    return connection


def api_key_validate(*, api_key: str, transport=None) -> None:
    """Prove a private API key works: GET /v1/customers?limit=1, and GET /v1/vip_tiers, where 403/404 is
    fine (a program without VIP: its tier lists are unavailable, said on the pages). Raises a
    ``SmileError`` whose message is safe to show (it never contains the key)."""
    client = SmileClient(
        base_url=settings.SMILE_API_BASE,
        token_provider=StaticTokenProvider(api_key),
        max_attempts=min(2, settings.SMILE_MAX_ATTEMPTS),
        transport=transport,
    )
    with client:
        client.health_check()
        with contextlib.suppress(SmileScopeError, SmileNotFound):
            client.list_vip_tiers()


def connection_api_key_connect(*, merchant, user, api_key: str, transport=None) -> SmileConnection:
    """Validate a private API key live, then store it (encrypted) as the merchant's connection."""
    api_key = api_key.strip()
    api_key_validate(api_key=api_key, transport=transport)
    connection = _save_credentials(
        merchant=merchant, user=user, auth_kind=AuthKind.API_KEY, access_token=api_key
    )
    connection.last_health_check_at = timezone.now()
    connection.last_health_check_ok = True
    connection.last_health_check_message = "Smile accepted the key for VIP tiers and customers."
    connection.save(
        update_fields=["last_health_check_at", "last_health_check_ok", "last_health_check_message"]
    )
    logger.info("Merchant %s connected to Smile with a private API key", merchant.pk)
    _first_sync_enqueue(merchant)
    return connection


def _first_sync_enqueue(merchant) -> None:
    """Announce the new connection once it is committed (the lists domain queues a first cycle, so the
    tiers and lists fill without waiting for the schedule)."""
    transaction.on_commit(
        lambda: signals.connection_established.send(sender=SmileConnection, merchant=merchant)
    )


def connection_health_check(*, merchant, **client_kwargs) -> SmileConnection | None:
    """GET /v1/customers?limit=1 with the stored credentials; store time + result (and the error, if
    any)."""
    ok, message = True, "Smile answered GET /v1/customers."
    try:
        with client_for_merchant(merchant, **client_kwargs) as client:
            client.health_check()
    except SmileError as exc:  # SmileNotConnected and SmileAuthError included: no call was made
        ok, message = False, str(exc)
    now = timezone.now()
    with transaction.atomic():
        connection = SmileConnection.objects.for_merchant(merchant).select_for_update().first()
        if connection is None:
            return None
        connection.last_health_check_at = now
        connection.last_health_check_ok = ok
        connection.last_health_check_message = message[:500]
        fields = ["last_health_check_at", "last_health_check_ok", "last_health_check_message", "updated_at"]
        if not ok:
            connection.last_error_message = message[:1000]
            connection.last_error_at = now
            fields += ["last_error_message", "last_error_at"]
        connection.save(update_fields=fields)
    logger.info("Smile health check for merchant %s: %s", merchant.pk, "ok" if ok else message)
    return connection


def connection_disconnect(*, merchant, user=None) -> None:
    """Forget the credentials. The row stays as history ("Not connected"), with no secret in it."""
    with transaction.atomic():
        connection = SmileConnection.objects.for_merchant(merchant).select_for_update().first()
        if connection is None:
            return
        connection.clear_tokens()
        connection.status = Status.DISCONNECTED
        connection.expires_at = None
        connection.save()
    logger.info("Merchant %s disconnected from Smile (by user %s)", merchant.pk, getattr(user, "pk", None))


def connection_mark_needs_reconnect(*, connection_id: int, reason: str) -> None:
    now = timezone.now()
    updated = SmileConnection.objects.filter(pk=connection_id, status=Status.CONNECTED).update(
        status=Status.NEEDS_RECONNECT, last_error_message=reason[:1000], last_error_at=now, updated_at=now
    )
    if updated:
        logger.warning("Smile connection %s needs reconnecting: %s", connection_id, reason)


def connection_error_record(*, merchant, message: str) -> None:
    """Remember the latest Smile problem (e.g. from a failed sync) for the connection page."""
    now = timezone.now()
    SmileConnection.objects.for_merchant(merchant).update(
        last_error_message=message[:1000], last_error_at=now, updated_at=now
    )


def connection_capability_record(*, merchant, name: str, verdict: str, reason: str) -> None:
    """Remember what a probe (or a walk) found out about this connection (``capabilities.py``)."""
    with transaction.atomic():
        connection = SmileConnection.objects.for_merchant(merchant).select_for_update().first()
        if connection is None:
            return
        previous = connection.capabilities.get(name, {})
        connection.capabilities[name] = {
            "verdict": verdict,
            "reason": reason[:300],
            "at": timezone.now().isoformat(),
        }
        connection.save(update_fields=["capabilities", "updated_at"])
    if previous.get("verdict") != verdict:
        logger.info(
            "Smile connection of merchant %s: %s is %s (%s)",
            getattr(merchant, "pk", merchant),
            name,
            verdict,
            reason,
        )


def connection_compatibility_record(*, merchant, findings: list[dict]) -> None:
    """Keep the doctor's last report on the connection (shown on its page)."""
    with transaction.atomic():
        connection = SmileConnection.objects.for_merchant(merchant).select_for_update().first()
        if connection is not None:
            connection.capabilities["report"] = {"at": timezone.now().isoformat(), "findings": findings}
            connection.save(update_fields=["capabilities", "updated_at"])


def connection_capability_verdict(*, merchant, name: str, client: SmileClient | None = None) -> str:
    """The verdict on ``name``: as known when ``client`` (from ``client_for_merchant``) was made, which
    costs no query, or as stored now."""
    known = getattr(client, "capabilities", None)
    if known is not None:
        return known.get(name, {}).get("verdict", "")
    return connection_capability(merchant=merchant, name=name).get("verdict", "")


def connection_account_id_record(*, merchant, account_id) -> None:
    """Learn the Smile account id (e.g. from the first verified webhook) when the token did not say."""
    SmileConnection.objects.for_merchant(merchant).filter(account_id="").update(
        account_id=str(account_id)[:64]
    )


def connection_token_refresh(
    *, connection_id: int, stale_access_token: str, after_401: bool
) -> tuple[str, datetime | None]:
    """Refresh an OAuth connection's tokens, once per connection across processes.

    Under a row lock, re-read the connection: when another worker already replaced the stale token
    (and the new one is not about to expire) use theirs; otherwise spend the refresh token and store
    the new pair before anyone uses the new access token. ``invalid_grant`` / 400 / 401 mark the
    connection "needs reconnect" and raise ``SmileAuthError``.
    """
    failure: SmileError | None = None
    with transaction.atomic():
        connection = SmileConnection.objects.select_for_update().get(pk=connection_id)
        if connection.status != Status.CONNECTED or not connection.has_credentials:
            reason = connection.last_error_message or "The Smile connection is not usable."
            raise SmileAuthError(f"The Smile connection needs reconnecting: {reason}")
        current = connection.access_token()
        expiring = (
            connection.expires_at is not None and connection.expires_at - timezone.now() < REFRESH_MARGIN
        )
        if current != stale_access_token and not expiring:
            return current, connection.expires_at
        refresh_token = connection.refresh_token()
        if not refresh_token:
            failure = SmileAuthError(
                "Smile's access token expired and there is no refresh token.", status=401
            )
        else:
            try:
                token = token_refresh(refresh_token=refresh_token)
            except SmileAuthError as exc:
                failure = exc
            else:
                connection.set_tokens(
                    access_token=token.access_token, refresh_token=token.refresh_token or refresh_token
                )
                connection.expires_at = token.expires_at
                if token.account_id and not connection.account_id:
                    connection.account_id = token.account_id
                if token.account_name:  # the account may have been renamed in Smile
                    connection.account_name = token.account_name
                connection.save()
                logger.info(
                    "Refreshed Smile tokens of connection %s (after 401: %s)", connection_id, after_401
                )
                return token.access_token, token.expires_at
        now = timezone.now()
        connection.status = Status.NEEDS_RECONNECT
        connection.last_error_message = f"Token refresh failed: {failure}"[:1000]
        connection.last_error_at = now
        connection.save(update_fields=["status", "last_error_message", "last_error_at", "updated_at"])
        logger.warning("Smile connection %s needs reconnecting: %s", connection_id, failure)
    raise failure


def encryption_keys_rotate() -> int:
    """Re-encrypt every stored secret with the newest FIELD_ENCRYPTION_KEYS key; returns rows updated."""
    count = 0
    for pk in SmileConnection.objects.values_list("pk", flat=True).order_by("pk"):
        with transaction.atomic():
            connection = SmileConnection.objects.select_for_update().get(pk=pk)
            if not (connection.access_token_encrypted or connection.refresh_token_encrypted):
                continue
            if connection.access_token_encrypted:
                connection.access_token_encrypted = crypto.rotate(connection.access_token_encrypted)
            if connection.refresh_token_encrypted:
                connection.refresh_token_encrypted = crypto.rotate(connection.refresh_token_encrypted)
            connection.save(update_fields=["access_token_encrypted", "refresh_token_encrypted", "updated_at"])
            count += 1
    return count


# --- the client of a merchant's connection ---------------------------------------------------------------
class ConnectionTokenProvider:
    """Tokens of one ``SmileConnection``; thread-safe, refreshes before expiry and after a 401.

    Refreshes are serialised per connection across processes (row lock in
    ``services.connection_token_refresh``) and within this process (a lock); a thread whose request got
    a 401 only refreshes if nobody replaced its token meanwhile.
    """

    def __init__(self, connection):
        self.connection_id = connection.pk
        self.auth_kind = connection.auth_kind
        self._token = connection.access_token()
        self._expires_at = connection.expires_at
        self._lock = threading.Lock()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"<ConnectionTokenProvider connection={self.connection_id}>"

    def _expiring(self, expires_at) -> bool:
        return expires_at is not None and expires_at - timezone.now() < REFRESH_MARGIN

    def get_token(self) -> str:
        with self._lock:
            token, expires_at = self._token, self._expires_at
        if self.auth_kind == "oauth" and self._expiring(expires_at):
            token = self._refresh(stale=token, after_401=False)
        self._local.token = token
        return token

    def refresh_after_401(self) -> str:
        stale = getattr(self._local, "token", None)
        if self.auth_kind != "oauth":
            reason = "Smile rejected the private API key (HTTP 401). Paste a new key to reconnect."
            self.auth_failed(reason)
            raise SmileAuthError(reason, status=401)
        token = self._refresh(stale=stale, after_401=True)
        self._local.token = token
        return token

    def _refresh(self, *, stale: str | None, after_401: bool) -> str:
        with self._lock:
            if self._token != stale and not self._expiring(self._expires_at):
                return self._token  # another thread refreshed while we waited
            token, expires_at = connection_token_refresh(
                connection_id=self.connection_id, stale_access_token=stale or "", after_401=after_401
            )
            self._token, self._expires_at = token, expires_at
            return token

    def auth_failed(self, reason: str) -> None:
        connection_mark_needs_reconnect(connection_id=self.connection_id, reason=reason)


def client_for_merchant(merchant, correlation_id: str | None = None, **kwargs) -> SmileClient:
    """A client authenticated as ``merchant``'s Smile connection.

    Raises ``SmileNotConnected`` when there is no usable connection and ``SmileAuthError`` (without
    calling Smile) while the connection needs reconnecting. ``kwargs`` go to ``SmileClient``.
    """
    connection = connection_usable_get(merchant=merchant)
    kwargs.setdefault("base_url", settings.SMILE_API_BASE)
    client = SmileClient(
        token_provider=ConnectionTokenProvider(connection), correlation_id=correlation_id, **kwargs
    )
    client.capabilities = dict(connection.capabilities)  # what was known of the connection then
    return client
