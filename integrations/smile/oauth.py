"""Smile OAuth 2.0: the authorize step (state + PKCE in the session), the token calls, and the token
providers the client uses.

Provider / authorize / callback are kept apart (views.py holds the two views). Token responses are
normalised to ``TokenData``; ``invalid_grant`` and 400/401 from the token endpoint become
``SmileAuthError`` ("identity no longer valid"), 5xx / network trouble ``SmileUnavailable``.
"""

import base64
import hashlib
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils import timezone
from oauthlib.oauth2 import OAuth2Error
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from .errors import SmileAuthError, SmileBadResponse, SmileUnavailable

logger = logging.getLogger(__name__)

STATE_SESSION_KEY = "smile_oauth_pending"
STATE_TTL = timedelta(minutes=10)
MAX_PENDING = 5
REFRESH_MARGIN = timedelta(seconds=60)
TOKEN_CALL_TIMEOUT = 15.0


class _DropDebug(logging.Filter):
    """requests-oauthlib / oauthlib log whole tokens and request bodies at DEBUG: never let them out."""

    def filter(self, record):
        return record.levelno > logging.DEBUG


for _name in ("requests_oauthlib", "oauthlib"):
    _logger = logging.getLogger(_name)
    if _logger.level < logging.INFO:  # NOTSET or DEBUG: their children log secrets at DEBUG
        _logger.setLevel(logging.INFO)
for _name in ("requests_oauthlib.oauth2_session", "oauthlib.oauth2.rfc6749.clients.base"):
    logging.getLogger(_name).addFilter(_DropDebug())  # even if someone turns their level down


class OAuthStateError(Exception):
    """The callback's ``state`` is missing, unknown (other session, replayed), expired or for another
    merchant. Nothing may be exchanged."""


@dataclass(frozen=True)
class TokenData:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime | None
    scopes: tuple[str, ...]
    account_id: str
    account_name: str = ""  # optional: not every token response names the account

    def missing_scopes(self) -> list[str]:
        """Required scopes (``SMILE_OAUTH_REQUIRED_SCOPES``) Smile did not grant. The others asked for
        (``SMILE_OAUTH_SCOPES``) are optional: without ``vip_tier:read`` member lists still work and tier
        lists are unavailable, said on the pages."""
        return [s for s in settings.SMILE_OAUTH_REQUIRED_SCOPES if s not in self.scopes]


# --- authorize step ---------------------------------------------------------------------------------
def _allow_loopback_http(url: str) -> None:
    """oauthlib refuses plain http. The bundled sandbox (and only a loopback address) may use it."""
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost", "::1"}:
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=")
    return verifier, challenge.decode("ascii")


def authorization_begin(*, session, merchant) -> str:
    """Remember a fresh single-use state (bound to this session and merchant) and PKCE verifier;
    return the Smile authorize URL to redirect to."""
    now = time.time()
    pending = {
        state: entry
        for state, entry in (session.get(STATE_SESSION_KEY) or {}).items()
        if entry.get("expires", 0) > now
    }
    state = secrets.token_urlsafe(32)
    verifier, challenge = _pkce_pair()
    pending[state] = {
        "merchant_id": merchant.pk,
        "expires": now + STATE_TTL.total_seconds(),
        "verifier": verifier,
    }
    # keep only the newest few (several tabs are fine; an unbounded list is not)
    newest = sorted(pending.items(), key=lambda item: item[1]["expires"])[-MAX_PENDING:]
    session[STATE_SESSION_KEY] = dict(newest)
    _allow_loopback_http(settings.SMILE_OAUTH_AUTHORIZE_URL)
    oauth = OAuth2Session(
        settings.SMILE_CLIENT_ID,
        redirect_uri=settings.SMILE_OAUTH_REDIRECT_URI,
        scope=list(settings.SMILE_OAUTH_SCOPES),
    )
    url, _ = oauth.authorization_url(
        settings.SMILE_OAUTH_AUTHORIZE_URL,
        state=state,
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    return url


def authorization_state_consume(*, session, state: str | None, merchant) -> str:
    """Validate and burn the callback's state; return its PKCE code verifier."""
    pending = dict(session.get(STATE_SESSION_KEY) or {})
    if not state:
        raise OAuthStateError("The response from Smile carried no state.")
    entry = pending.pop(state, None)
    session[STATE_SESSION_KEY] = pending  # single use: gone whatever happens next
    if entry is None:
        raise OAuthStateError(
            "This Smile authorization was not started in this browser session, or was already used."
        )
    if entry.get("expires", 0) <= time.time():
        raise OAuthStateError("This Smile authorization expired (10 minutes). Please start again.")
    if merchant is None or entry.get("merchant_id") != merchant.pk:
        raise OAuthStateError("This Smile authorization was started for another merchant.")
    return entry["verifier"]


# --- token endpoint -----------------------------------------------------------------------------------
def _client_auth_kwargs() -> dict:
    if settings.SMILE_TOKEN_AUTH_METHOD == "form":
        return {"include_client_id": True, "client_secret": settings.SMILE_CLIENT_SECRET}
    return {"auth": HTTPBasicAuth(settings.SMILE_CLIENT_ID, settings.SMILE_CLIENT_SECRET)}


def _normalise(token: dict) -> TokenData:
    access_token = token.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise SmileBadResponse("Smile's token response carried no access token.")
    refresh_token = token.get("refresh_token") or ""
    expires_at = None
    try:
        if token.get("expires_in") not in (None, ""):
            expires_at = timezone.now() + timedelta(seconds=float(token["expires_in"]))
    except (TypeError, ValueError):
        raise SmileBadResponse("Smile's token response has an invalid expires_in.") from None
    scope = token.get("scope")
    if scope is None:  # RFC 6749 5.1: omitted means "as requested"
        scopes = tuple(settings.SMILE_OAUTH_SCOPES)
    elif isinstance(scope, str):
        scopes = tuple(scope.replace(",", " ").split())
    else:
        scopes = tuple(str(s) for s in scope)
    account_id = token.get("account_id")
    account_name = token.get("account_name")
    return TokenData(
        access_token=access_token,
        refresh_token=str(refresh_token),
        expires_at=expires_at,
        scopes=scopes,
        account_id="" if account_id in (None, "") else str(account_id)[:64],
        account_name=account_name.strip()[:200] if isinstance(account_name, str) else "",
    )


def _token_call(what: str, hook_name: str, call) -> TokenData:
    _allow_loopback_http(settings.SMILE_OAUTH_TOKEN_URL)
    oauth = OAuth2Session(settings.SMILE_CLIENT_ID, redirect_uri=settings.SMILE_OAUTH_REDIRECT_URI)
    seen: dict = {}

    def check_status(response):
        seen["status"] = response.status_code
        if response.status_code >= 500 or response.status_code == 429:
            raise SmileUnavailable(
                f"Smile's token endpoint failed during the {what}", status=response.status_code
            )
        return response

    oauth.register_compliance_hook(hook_name, check_status)
    try:
        token = call(oauth)
    except OAuth2Error as exc:
        status = seen.get("status")
        if exc.error in ("invalid_grant", "invalid_client", "unauthorized_client") or status in (400, 401):
            raise SmileAuthError(f"Smile refused the {what} ({exc.error})", status=status) from None
        raise SmileBadResponse(
            f"Smile's token endpoint answered the {what} unexpectedly ({exc.error})", status=status
        ) from None
    except requests.Timeout:
        raise SmileUnavailable(f"Smile's token endpoint did not answer the {what} in time") from None
    except requests.RequestException as exc:
        raise SmileUnavailable(f"Could not reach Smile's token endpoint ({type(exc).__name__})") from None
    except Warning:  # oauthlib's "scope has changed": only when a scope was requested; never here
        raise SmileBadResponse(f"Smile's token response to the {what} was unexpected") from None
    return _normalise(token)


def code_exchange(*, code: str, code_verifier: str) -> TokenData:
    """Trade an authorization code (+ PKCE verifier) for tokens."""
    return _token_call(
        "authorization code",
        "access_token_response",
        lambda oauth: oauth.fetch_token(
            settings.SMILE_OAUTH_TOKEN_URL,
            code=code,
            code_verifier=code_verifier,
            timeout=TOKEN_CALL_TIMEOUT,
            **_client_auth_kwargs(),
        ),
    )


def token_refresh(*, refresh_token: str) -> TokenData:
    """Trade a refresh token for new tokens (the old refresh token may be single-use)."""
    kwargs = _client_auth_kwargs()
    if kwargs.pop("include_client_id", False):
        kwargs["client_id"] = settings.SMILE_CLIENT_ID
    return _token_call(
        "token refresh",
        "refresh_token_response",
        lambda oauth: oauth.refresh_token(
            settings.SMILE_OAUTH_TOKEN_URL, refresh_token=refresh_token, timeout=TOKEN_CALL_TIMEOUT, **kwargs
        ),
    )


# --- token providers for SmileClient ----------------------------------------------------------------
class StaticTokenProvider:
    """A fixed token (an API key being validated, tests). A 401 cannot be fixed by refreshing."""

    def __init__(self, token: str):
        self._token = token

    def get_token(self) -> str:
        return self._token

    def refresh_after_401(self) -> str:
        raise SmileAuthError("Smile rejected the credentials", status=401)

    def __repr__(self) -> str:
        return "<StaticTokenProvider>"
